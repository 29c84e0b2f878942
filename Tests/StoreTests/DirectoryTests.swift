import Testing
@testable import Store

@Suite("Directory (SQLite)")
struct DirectoryTests {
    @Test func addReadDuplicateRemove() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let store = try SQLiteStore(directory: dir.path)
        try await store.addUser(user("alice@example.com", home: "hs1.example.com"))
        let alice = try await store.user("alice@example.com")
        #expect(alice?.homeServer == "hs1.example.com")
        #expect(alice?.ha1SHA256.count == 32)
        #expect(alice?.user == "alice")
        #expect(alice?.domain == "example.com")

        await #expect(throws: StoreError.self) { try await store.addUser(user("alice@example.com")) }
        do {
            try await store.addUser(user("alice@example.com"))
        } catch {
            #expect(error.code == .duplicateUser)
        }
        try await store.setEnabled("alice@example.com", false)
        #expect(try await store.user("alice@example.com")?.enabled == false)
        do {
            try await store.setEnabled("nobody@example.com", false)
            Issue.record("unknown user accepted")
        } catch {
            #expect(error.code == .unknownUser)
        }
        try await store.removeUser("alice@example.com")
        #expect(try await store.user("alice@example.com") == nil)
        do {
            try await store.removeUser("alice@example.com")
            Issue.record("removed twice")
        } catch {
            #expect(error.code == .unknownUser)
        }
    }

    @Test func importIsAllOrNothing() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let store = try SQLiteStore(directory: dir.path)
        try await store.addUser(user("u5@example.com"))
        let batch = (0..<10).map { user("u\($0)@example.com") }
        do {
            try await store.importUsers(batch)
            Issue.record("duplicate accepted")
        } catch {
            #expect(error.code == .duplicateUser)
            #expect(error.reason.contains("u5@example.com"))
        }
        #expect(try await store.allUsers().map(\.aor) == ["u5@example.com"])
        try await store.importUsers((10..<1000).map { user("u\($0)@example.com") })
        #expect(try await store.allUsers().count == 991)
    }

    /// `sipctl user import --replace`: one directory file imported into every server of a mesh.
    @Test func importWithReplaceUpdatesHomeServerAndPassword() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let store = try SQLiteStore(directory: dir.path)
        try await store.addUser(UserRecord(aor: "u1@example.com", displayName: "U One", homeServer: "hs1.example.com",
                                           ha1MD5: Array(repeating: 1, count: 16), ha1SHA256: Array(repeating: 1, count: 32)))
        try await store.importUsers([
            UserRecord(aor: "u1@example.com", homeServer: "hs2.example.com",
                       ha1MD5: Array(repeating: 2, count: 16), ha1SHA256: Array(repeating: 2, count: 32)),
            user("u2@example.com"),
        ], replace: true)
        let u1 = try #require(try await store.user("u1@example.com"))
        #expect(u1.homeServer == "hs2.example.com")
        #expect(u1.ha1MD5 == Array(repeating: 2, count: 16))
        #expect(u1.displayName == "U One")
        #expect(try await store.allUsers().count == 2)
    }

    @Test func rejectsMalformedRecords() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let store = try SQLiteStore(directory: dir.path)
        for bad in [user("no-at-sign"), user("Alice@Example.COM"),
                    UserRecord(aor: "a@example.com", ha1MD5: [1, 2], ha1SHA256: [])] {
            do {
                try await store.addUser(bad)
                Issue.record("accepted \(bad.aor)")
            } catch {
                #expect(error.code == .invalidValue)
            }
        }
    }

    @Test(arguments: [
        ("alice@example.com", "alice@example.com"), ("sip:alice@EXAMPLE.com", "alice@example.com"),
        ("Alice@Example.Com", "Alice@example.com"), ("alice", nil), ("@example.com", nil), ("a b@example.com", nil),
        ("sips:Bob@EXAMPLE.com", "Bob@example.com"), ("alice@exa mple.com", nil), ("alice@example.com.", "alice@example.com"), ("alice@.", "alice@."), ("alice@", nil), ("a@b@example.com", "a@b@example.com"),
    ] as [(String, String?)])
    func aorNormalization(input: String, expected: String?) {
        #expect(AOR.normalize(input) == expected)
    }

    @Test func cacheSeesChangesFromAnotherConnection() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let store = try SQLiteStore(directory: dir.path)
        try await store.addUser(user("bob@example.com"))
        let directory = try await UserDirectory.load(from: store)
        #expect(await directory.cachedUser("bob@example.com")?.enabled == true)
        #expect(try await directory.refreshIfChanged() == false)

        // Another process (sipctl) disables bob and adds carol through its own connection.
        let other = try SQLiteStore(directory: dir.path)
        try await other.setEnabled("bob@example.com", false)
        try await other.addUser(user("carol@example.com"))
        // A user added since the load is found on a miss, before any refresh.
        #expect(await directory.user("carol@example.com") != nil)
        #expect(try await directory.refreshIfChanged() == true)
        #expect(await directory.cachedUser("bob@example.com")?.enabled == false)
        #expect(await directory.user("dave@example.com") == nil)
    }

    @Test func failedStoreReadIsNotAnUnknownUser() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let store = try SQLiteStore(directory: dir.path)
        try await store.addUser(user("alice@example.com"))
        let directory = try await UserDirectory.load(from: store)
        try store.close()
        // Cached users are still served; a miss cannot be answered and says so.
        #expect(try await directory.find("alice@example.com") != nil)
        do {
            _ = try await directory.find("bob@example.com")
            Issue.record("a failed read looked like an unknown user")
        } catch {
            #expect(error.code == .unavailable)
            #expect(error.status == 500)
        }
        #expect(await directory.user("bob@example.com") == nil)
    }
}
