import Foundation
import GRDB
import Testing
@testable import Store

/// Roaming contact lists and directory fields in SQLite (migration v3-contacts) and in memory
/// (``ContactLists``).
@Suite("Contact lists")
struct ContactListTests {
    @Test func migratesAV2FileKeepingUsersAndACLs() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        do {
            let pool = try DatabasePool(path: (dir.path as NSString).appendingPathComponent(SQLiteStore.fileName))
            try SQLiteStore.migrator.migrate(pool, upTo: "v2-presence")
            try await pool.write { db in try SQLiteStore.insert(user("alice@example.com"), db) }
            #expect(try await pool.read { try $0.tableExists("contact") } == false)
            try pool.close()
        }
        let store = try SQLiteStore(directory: dir.path)
        #expect(try await store.user("alice@example.com") != nil)
        #expect(try await store.contactsGeneration() == 0)
        let list = try await store.contactList(user: "alice@example.com")
        #expect(list == ContactList(user: "alice@example.com"))
        let entry = try await store.directoryEntry("alice@example.com")
        #expect(entry.searchable && entry.title.isEmpty)
    }

    @Test func changesBumpDeltaNumAndGeneration() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let store = try SQLiteStore(directory: dir.path)
        try await store.addUser(user("alice@example.com"))
        let added = try await store.apply(user: "alice@example.com", .addGroup(name: "Friends"))
        #expect(added.addedGroupID == 1)
        #expect(added.list.deltaNum == 1)
        let work = try await store.apply(user: "alice@example.com", .addGroup(name: "Work"))
        #expect(work.addedGroupID == 2)
        let set = try await store.apply(user: "alice@example.com",
                                        .setContact(RoamingContact(uri: "sip:Bob@EXAMPLE.org", name: "Bob",
                                                                   groups: [2, 1, 2], subscribed: true)))
        #expect(set.list.contacts == [RoamingContact(uri: "Bob@example.org", name: "Bob", groups: [1, 2])])
        #expect(set.list.deltaNum == 3)
        _ = try await store.apply(user: "alice@example.com", .modifyGroup(id: 1, name: "Pals"))
        let deleted = try await store.apply(user: "alice@example.com", .deleteGroup(id: 2))
        #expect(deleted.list.groups == [ContactGroup(id: 1, name: "Pals")])
        #expect(deleted.list.contacts.first?.groups == [1])
        #expect(deleted.list.deltaNum == 5)
        #expect(try await store.contactsGeneration() == 5)
        // A new group never reuses the id of the last one while others are above it.
        let again = try await store.apply(user: "alice@example.com", .addGroup(name: "Work"))
        #expect(again.addedGroupID == 2)
        let gone = try await store.apply(user: "alice@example.com", .deleteContact(uri: "Bob@example.org"))
        #expect(gone.list.contacts.isEmpty)
        #expect(try await store.contactList(user: "alice@example.com") == gone.list)
    }

    @Test func refusalsChangeNothing() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let store = try SQLiteStore(directory: dir.path)
        try await store.addUser(user("alice@example.com"))
        _ = try await store.apply(user: "alice@example.com", .addGroup(name: "Friends"))
        func code(_ change: ContactListChange, user: String = "alice@example.com") async -> StoreError.Code? {
            do { _ = try await store.apply(user: user, change); return nil } catch { return error.code }
        }
        #expect(await code(.addGroup(name: "x"), user: "nobody@example.com") == .unknownUser)
        #expect(await code(.setContact(RoamingContact(uri: "not an aor"))) == .invalidValue)
        #expect(await code(.setContact(RoamingContact(uri: "bob@example.com", groups: [7]))) == .invalidValue)
        #expect(await code(.setContact(RoamingContact(uri: "bob@example.com", name: String(repeating: "x", count: 300)))) == .invalidValue)
        #expect(await code(.deleteContact(uri: "bob@example.com")) == .notFound)
        #expect(await code(.modifyGroup(id: 9, name: "x")) == .notFound)
        #expect(await code(.deleteGroup(id: 9)) == .notFound)
        #expect(await code(.addGroup(name: "Friends")) == .invalidValue)
        #expect(await code(.addGroup(name: "  ")) == .invalidValue)
        let list = try await store.contactList(user: "alice@example.com")
        #expect(list.deltaNum == 1)
        #expect(list.contacts.isEmpty)
    }

    @Test func groupsAreCapped() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let store = try SQLiteStore(directory: dir.path)
        try await store.addUser(user("alice@example.com"))
        for i in 0..<ContactList.maxGroups { _ = try await store.apply(user: "alice@example.com", .addGroup(name: "g\(i)")) }
        await #expect(throws: StoreError.self) {
            _ = try await store.apply(user: "alice@example.com", .addGroup(name: "one too many"))
        }
    }

    @Test func memoryFollowsWritesAndOtherProcesses() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let store = try SQLiteStore(directory: dir.path)
        try await store.addUser(user("alice@example.com"))
        let lists = try await ContactLists.load(from: store)
        #expect(lists.list(user: "alice@example.com").deltaNum == 0)
        _ = try await lists.apply(user: "alice@example.com", .addGroup(name: "Friends"))
        #expect(lists.list(user: "alice@example.com").groups.map(\.name) == ["Friends"])
        // Its own write moved the generation: the refresh reports no list as different.
        #expect(try await lists.refreshIfChanged() == [])
        // Another process (another store object on the same file) changes the list.
        let other = try SQLiteStore(directory: dir.path)
        _ = try await other.apply(user: "alice@example.com", .setContact(RoamingContact(uri: "bob@example.com", groups: [1])))
        #expect(try await lists.refreshIfChanged() == ["alice@example.com"])
        #expect(lists.list(user: "alice@example.com").contacts.map(\.uri) == ["bob@example.com"])
        #expect(try await lists.refreshIfChanged() == nil)
        #expect(ContactLists.listing(lists.list(user: "alice@example.com")) == [
            "deltaNum 2", "group 1 Friends", "contact bob@example.com \"\" groups=Friends",
        ])
    }

    @Test func directorySearchHonoursHiddenUsersAndDomains() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let store = try SQLiteStore(directory: dir.path)
        for aor in ["alice@example.com", "albert@example.com", "alfred@example.com", "alma@other.org"] {
            try await store.addUser(user(aor))
        }
        try await store.updateDirectory("alice@example.com", DirectoryUpdate(
            displayName: "Alice Liddell", title: "Engineer", office: "B2", phone: "+1 555", company: "Wonder",
            email: "alice@mail.example.com"))
        try await store.updateDirectory("albert@example.com", DirectoryUpdate(displayName: "Albert Hidden", searchable: false))
        try await store.updateDirectory("alma@other.org", DirectoryUpdate(displayName: "Alma Other"))
        let entry = try await store.directoryEntry("alice@example.com")
        #expect(entry == DirectoryEntry(aor: "alice@example.com", displayName: "Alice Liddell", title: "Engineer",
                                        office: "B2", phone: "+1 555", company: "Wonder", email: "alice@mail.example.com"))
        let all = try await store.searchDirectory(DirectoryQuery(text: "al"))
        #expect(all.entries.map(\.aor) == ["alfred@example.com", "alice@example.com", "alma@other.org"])
        let ours = try await store.searchDirectory(DirectoryQuery(text: "al", domain: "example.com"))
        #expect(ours.entries.map(\.aor) == ["alfred@example.com", "alice@example.com"])
        #expect(try await store.searchDirectory(DirectoryQuery(text: "hidden")).entries.isEmpty)
        #expect(try await store.searchDirectory(DirectoryQuery(email: "MAIL.example")).entries.map(\.aor) == ["alice@example.com"])
        let one = try await store.searchDirectory(DirectoryQuery(text: "al", limit: 1))
        #expect(one.entries.count == 1 && one.more)
        // LIKE wildcards in the text are literal.
        #expect(try await store.searchDirectory(DirectoryQuery(text: "%")).entries.isEmpty)
        await #expect(throws: StoreError.self) {
            try await store.updateDirectory("nobody@example.com", DirectoryUpdate(title: "x"))
        }
    }
}
