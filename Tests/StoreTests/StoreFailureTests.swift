import Testing
@testable import Store

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
}
