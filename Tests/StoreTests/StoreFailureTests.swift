import Foundation
import Testing
@testable import Store
#if canImport(Glibc)
import Glibc
#endif

/// A store that refuses writes answers `.unavailable` (status 500), changes neither memory nor
/// the file, and works again once the storage does.
@Suite("Store failures")
struct StoreFailureTests {
    @Test func fullDiskFailsTheUpdateAndCorruptsNothing() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let clock = ManualClock()
        do {
            // Seed one binding, then reopen with the file capped at its current size plus a little.
            let store = try SQLiteStore(directory: dir.path)
            let table = try await LocationTable.load(from: store, clock: clock.storeClock)
            try await register(table, binding("alice@example.com", "sip:alice@192.0.2.1", expiresAt: clock.now + 3600))
            try store.close()
        }
        var capped = SQLiteStore.Configuration()
        capped.maxPageCount = 12
        let store = try SQLiteStore(directory: dir.path, configuration: capped)
        let table = try await LocationTable.load(from: store, clock: clock.storeClock)
        var failure: StoreError?
        var written = 0
        for i in 0..<5000 {
            do {
                let long = String(repeating: "x", count: 200)
                try await register(table, binding("u\(i)@example.com", "sip:u\(i)-\(long)@192.0.2.9", expiresAt: clock.now + 3600))
                written += 1
            } catch {
                failure = error
                break
            }
        }
        let error = try #require(failure, "the capped file never filled up")
        #expect(error.code == .unavailable)
        #expect(error.status == 500)
        // The failed AOR is not in memory; the earlier ones are.
        #expect(await table.lookup("u\(written)@example.com").isEmpty)
        #expect(await table.lookup("alice@example.com").count == 1)
        // An unrelated refresh fails the same way without touching alice's stored binding.
        do {
            try await register(table, binding("alice@example.com", "sip:alice@192.0.2.1", expiresAt: clock.now + 7200, cseq: 2))
        } catch {
            #expect(error.code == .unavailable)
        }
        try store.close()

        // Reopened without the cap: everything acknowledged is there, intact, and writes work.
        let reopened = try SQLiteStore(directory: dir.path)
        let stored = try await reopened.loadBindings(now: clock.now)
        #expect(stored.count == written + 1)
        let alice = try #require(stored.first { $0.aor == "alice@example.com" })
        #expect(alice.expiresAt == clock.now + 3600 || alice.expiresAt == clock.now + 7200)
        let table2 = try await LocationTable.load(from: reopened, clock: clock.storeClock)
        try await register(table2, binding("bob@example.com", "sip:bob@192.0.2.2", expiresAt: clock.now + 60))
        #expect(await table2.lookup("bob@example.com").count == 1)
    }

    @Test func readOnlyStoreRefusesWritesButServesReads() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let clock = ManualClock()
        do {
            let store = try SQLiteStore(directory: dir.path)
            try await store.addUser(user("alice@example.com"))
            let table = try await LocationTable.load(from: store, clock: clock.storeClock)
            try await register(table, binding("alice@example.com", "sip:alice@192.0.2.1", expiresAt: clock.now + 3600))
            try store.close()
        }
        var readOnly = SQLiteStore.Configuration()
        readOnly.readOnly = true
        let store = try SQLiteStore(directory: dir.path, configuration: readOnly)
        let table = try await LocationTable.load(from: store, clock: clock.storeClock)
        #expect(await table.lookup("alice@example.com").count == 1)
        do {
            try await register(table, binding("alice@example.com", "sip:alice@192.0.2.7", expiresAt: clock.now + 60))
            Issue.record("a read-only store accepted a write")
        } catch {
            #expect(error.code == .unavailable)
            #expect(error.status == 500)
        }
        #expect(await table.lookup("alice@example.com").map(\.contact) == ["sip:alice@192.0.2.1"])
        do {
            try await store.addUser(user("bob@example.com"))
            Issue.record("a read-only store accepted a user")
        } catch {
            #expect(error.code == .unavailable)
        }
        let directory = try await UserDirectory.load(from: store)
        #expect(await directory.user("alice@example.com") != nil)
    }

    /// The store file itself made read-only (chmod, or `chattr +i` when running as root, who
    /// ignores permissions): the server still starts and serves what is stored; every change
    /// fails with `.unavailable` and the file is unchanged.
    @Test(.enabled(if: ReadOnlyFile.possible, "needs a non-root user or chattr"))
    func readOnlyFileRefusesWritesWithoutCorruption() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let clock = ManualClock()
        do {
            let store = try SQLiteStore(directory: dir.path)
            try await store.addUser(user("alice@example.com"))
            let table = try await LocationTable.load(from: store, clock: clock.storeClock)
            try await register(table, binding("alice@example.com", "sip:alice@192.0.2.1", expiresAt: clock.now + 3600))
            try store.close()
        }
        let file = (dir.path as NSString).appendingPathComponent(SQLiteStore.fileName)
        try ReadOnlyFile.set(file, readOnly: true)
        defer { try? ReadOnlyFile.set(file, readOnly: false) }
        #expect(open(file, O_WRONLY) == -1, "the file is still writable")

        let store = try SQLiteStore(directory: dir.path)
        let table = try await LocationTable.load(from: store, clock: clock.storeClock)
        #expect(await table.lookup("alice@example.com").count == 1)
        do {
            try await register(table, binding("alice@example.com", "sip:alice@192.0.2.7", expiresAt: clock.now + 60))
            Issue.record("a read-only file accepted a binding")
        } catch {
            #expect(error.code == .unavailable)
        }
        do {
            try await store.addUser(user("bob@example.com"))
            Issue.record("a read-only file accepted a user")
        } catch {
            #expect(error.code == .unavailable)
        }
        #expect(await table.lookup("alice@example.com").map(\.contact) == ["sip:alice@192.0.2.1"])
        try store.close()
        try ReadOnlyFile.set(file, readOnly: false)
        let reopened = try SQLiteStore(directory: dir.path)
        #expect(try await reopened.loadBindings(now: clock.now).map(\.contact) == ["sip:alice@192.0.2.1"])
        #expect(try await reopened.allUsers().map(\.aor) == ["alice@example.com"])
    }
}

/// Makes a file read-only for this process: permissions when not root, the immutable
/// attribute (chattr) when root.
enum ReadOnlyFile {
    static let chattr = ["/usr/bin/chattr", "/bin/chattr"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static var possible: Bool { getuid() != 0 || chattr != nil }

    static func set(_ path: String, readOnly: Bool) throws {
        if getuid() != 0 {
            try FileManager.default.setAttributes([.posixPermissions: readOnly ? 0o444 : 0o644], ofItemAtPath: path)
            return
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: chattr!)
        process.arguments = [readOnly ? "+i" : "-i", path]
        try process.run()
        process.waitUntilExit()
        struct ChattrFailed: Error {}
        if process.terminationStatus != 0 { throw ChattrFailed() }
    }
}
