import Foundation
import GRDB
import Testing
@testable import Store

/// Access lists in SQLite (migration v2-presence, CRUD, the generation) and in memory
/// (``AccessLists``: the order of RFC 3856 §6.6 decisions, what a refresh reports).
@Suite("Access lists")
struct AccessListTests {
    @Test func migratesAnExistingV1File() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        do {
            // A file as the previous release left it: v1 only, with a user and a binding.
            let pool = try DatabasePool(path: (dir.path as NSString).appendingPathComponent(SQLiteStore.fileName))
            try SQLiteStore.migrator.migrate(pool, upTo: "v1-directory-and-bindings")
            try await pool.write { db in
                try SQLiteStore.insert(user("alice@example.com"), db)
                try SQLiteStore.write([.upsert(binding("alice@example.com", "sip:alice@192.0.2.1", expiresAt: 4_000_000_000))], db)
            }
            #expect(try await pool.read { try $0.tableExists("access_entry") } == false)
            try pool.close()
        }
        let store = try SQLiteStore(directory: dir.path)
        #expect(try await store.user("alice@example.com") != nil)
        #expect(try await store.loadBindings(now: 0).count == 1)
        #expect(try await store.accessGeneration() == 0)
        #expect(try await store.accessDefaults().isEmpty)
        #expect(try await store.allAccessEntries().isEmpty)
        #expect(try await store.loadSubscriptions(now: 0).isEmpty)
        #expect(try await store.loadPublications(now: 0).isEmpty)
        try await store.setAccess(user: "alice@example.com", watcher: "bob@example.com", rule: .allow)
        #expect(try await store.accessGeneration() == 1)
        try store.close()
        // Opening again applies nothing twice.
        let again = try SQLiteStore(directory: dir.path)
        #expect(try await again.accessEntries(user: "alice@example.com").count == 1)
    }

    @Test func crudBumpsTheGeneration() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let store = try SQLiteStore(directory: dir.path)
        try await store.addUser(user("alice@example.com"))
        var generation = try await store.accessGeneration()

        func bumped() async throws -> Bool {
            let now = try await store.accessGeneration()
            defer { generation = now }
            return now == generation + 1
        }

        try await store.setAccessDefault(domain: "Example.COM", policy: .pending)
        #expect(try await bumped())
        #expect(try await store.accessDefaults() == ["example.com": .pending])
        try await store.setAccessDefault(domain: "example.com", policy: .block)
        #expect(try await bumped())
        #expect(try await store.accessDefaults() == ["example.com": .block])

        try await store.setAccess(user: "sip:alice@EXAMPLE.com", watcher: "sips:carol@Example.ORG", rule: .block)
        #expect(try await bumped())
        try await store.setAccess(user: "alice@example.com", watcher: "bob@example.com", rule: .block)
        try await store.setAccess(user: "alice@example.com", watcher: "bob@example.com", rule: .allow)
        #expect(try await store.accessGeneration() == generation + 2)
        generation += 2
        #expect(try await store.accessEntries(user: "alice@example.com") == [
            AccessEntry(user: "alice@example.com", watcher: "bob@example.com", rule: .allow),
            AccessEntry(user: "alice@example.com", watcher: "carol@example.org", rule: .block),
        ])
        #expect(try await store.allAccessEntries().count == 2)

        #expect(try await store.removeAccess(user: "alice@example.com", watcher: "carol@example.org"))
        #expect(try await bumped())
        #expect(try await store.removeAccess(user: "alice@example.com", watcher: "carol@example.org") == false)
        #expect(try await store.accessGeneration() == generation)

        do {
            try await store.setAccess(user: "nobody@example.com", watcher: "bob@example.com", rule: .allow)
            Issue.record("entry for an unknown user accepted")
        } catch {
            #expect(error.code == .unknownUser)
        }
        do {
            try await store.setAccess(user: "alice@example.com", watcher: "not an aor", rule: .allow)
            Issue.record("malformed watcher accepted")
        } catch {
            #expect(error.code == .invalidValue)
        }
        #expect(try await store.accessGeneration() == generation)
    }

    /// Every step of the decision order, in turn.
    @Test func decideFollowsTheOrder() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let store = try SQLiteStore(directory: dir.path)
        try await store.addUser(user("alice@example.com"))
        try await store.addUser(user("dave@example.net"))
        try await store.setAccess(user: "alice@example.com", watcher: "bob@example.com", rule: .block)
        try await store.setAccess(user: "alice@example.com", watcher: "carol@example.org", rule: .allow)
        // The user's own entry for themselves does not stop them watching themselves.
        try await store.setAccess(user: "alice@example.com", watcher: "alice@example.com", rule: .block)
        try await store.setAccessDefault(domain: "example.net", policy: .pending)
        let lists = try await AccessLists.load(from: store)

        // 1. oneself
        #expect(lists.decide(presentity: "alice@example.com", watcher: "alice@example.com") == .allow)
        // 2. an entry, either way, whatever the domains
        #expect(lists.decide(presentity: "alice@example.com", watcher: "bob@example.com") == .block)
        #expect(lists.decide(presentity: "alice@example.com", watcher: "carol@example.org") == .allow)
        // 3. the configured default of the presentity's domain, for every watcher
        #expect(lists.decide(presentity: "dave@example.net", watcher: "erin@example.net") == .pending)
        #expect(lists.decide(presentity: "dave@example.net", watcher: "bob@example.com") == .pending)
        // 4. built in: same domain allowed, others blocked
        #expect(lists.decide(presentity: "alice@example.com", watcher: "erin@example.com") == .allow)
        #expect(lists.decide(presentity: "alice@example.com", watcher: "erin@example.org") == .block)

        #expect(lists.entries(user: "alice@example.com").map(\.watcher)
            == ["alice@example.com", "bob@example.com", "carol@example.org"])
        #expect(lists.entries(user: "nobody@example.com").isEmpty)
        #expect(lists.configuredDefault(domain: "EXAMPLE.net") == .pending)
        #expect(lists.configuredDefault(domain: "example.com") == nil)
    }

    @Test func refreshReportsWhatChanged() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let store = try SQLiteStore(directory: dir.path)
        for aor in ["alice@example.com", "bob@example.com", "carol@example.com"] { try await store.addUser(user(aor)) }
        try await store.setAccess(user: "alice@example.com", watcher: "x@example.org", rule: .allow)
        try await store.setAccess(user: "bob@example.com", watcher: "x@example.org", rule: .allow)
        let lists = try await AccessLists.load(from: store)
        #expect(try await lists.refreshIfChanged() == nil)

        // Another process (a second store on the same file, like sipctl) changes the lists.
        let other = try SQLiteStore(directory: dir.path)
        try await other.setAccess(user: "alice@example.com", watcher: "x@example.org", rule: .block)
        try await other.setAccess(user: "carol@example.com", watcher: "y@example.org", rule: .allow)
        try await other.setAccess(user: "bob@example.com", watcher: "x@example.org", rule: .allow)  // unchanged
        try await other.setAccessDefault(domain: "example.com", policy: .pending)
        #expect(lists.decide(presentity: "alice@example.com", watcher: "x@example.org") == .allow)
        #expect(try await lists.refreshIfChanged() == ["alice@example.com", "carol@example.com", "*@example.com"])
        #expect(lists.decide(presentity: "alice@example.com", watcher: "x@example.org") == .block)
        #expect(lists.decide(presentity: "carol@example.com", watcher: "z@example.com") == .pending)
        #expect(try await lists.refreshIfChanged() == nil)

        _ = try await other.removeAccess(user: "bob@example.com", watcher: "x@example.org")
        #expect(try await lists.refreshIfChanged() == ["bob@example.com"])
    }

    @Test func refresherCallsBack() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let store = try SQLiteStore(directory: dir.path)
        try await store.addUser(user("alice@example.com"))
        let lists = try await AccessLists.load(from: store)
        let (changes, continuation) = AsyncStream.makeStream(of: Set<String>.self)
        let refresher = Task { await lists.runRefresher(every: .milliseconds(20)) { continuation.yield($0) } }
        defer { refresher.cancel() }
        try await store.setAccess(user: "alice@example.com", watcher: "bob@example.org", rule: .allow)
        var iterator = changes.makeAsyncIterator()
        #expect(await iterator.next() == ["alice@example.com"])
        #expect(lists.decide(presentity: "alice@example.com", watcher: "bob@example.org") == .allow)
    }

    /// What `sipctl acl list` prints.
    @Test func listing() {
        let entries = [
            AccessEntry(user: "alice@example.com", watcher: "carol@example.org", rule: .block),
            AccessEntry(user: "alice@example.com", watcher: "bob@example.com", rule: .allow),
            AccessEntry(user: "zed@example.com", watcher: "bob@example.com", rule: .block),
        ]
        #expect(AccessLists.listing(user: "alice@example.com", entries: entries, defaults: [:]) == [
            "allow bob@example.com", "block carol@example.org",
            "default built-in (example.com): allow example.com watchers, block others",
        ])
        #expect(AccessLists.listing(user: "alice@example.com", entries: [], defaults: ["example.com": .pending])
            == ["default pending (example.com, configured)"])
    }
}
