import Foundation
import GRDB
import Testing
@testable import Store

/// Migration "v4-subscription-rowid": a store written by the WITHOUT ROWID schema keeps its
/// subscriptions, and the table it leaves is a rowid table whose `id` stays unique.
@Suite("Subscription schema")
struct SubscriptionSchemaTests {
    @Test func subscriptionsSurviveTheMoveToARowidTable() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let path = (dir.path as NSString).appendingPathComponent(SQLiteStore.fileName)
        let now: Int64 = 1_800_000_000
        let old = [subscription("s1", expiresAt: now + 3600), subscription("s2", expiresAt: now + 7200)]
        do {  // a store as the previous version left it
            let queue = try DatabaseQueue(path: path)
            try SQLiteStore.migrator.migrate(queue, upTo: "v3-contacts")
            try await queue.write { db in try SQLiteStore.write(old.map { .upsertSubscription($0) }, db) }
            let before = try await queue.read { db in try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'subscription'") }
            #expect(before?.contains("WITHOUT ROWID") == true)
            try queue.close()
        }

        let store = try SQLiteStore(directory: dir.path)
        #expect(try await store.loadSubscriptions(now: now).sorted { $0.id < $1.id } == old)
        var refreshed = old[0]
        refreshed.localCSeq = 99
        try await store.apply([.upsertSubscription(refreshed), .removeSubscription(id: "s2")])
        #expect(try await store.loadSubscriptions(now: now) == [refreshed])  // replaced, not added
        try store.close()

        let queue = try DatabaseQueue(path: path)
        let (sql, indexes) = try await queue.read { db in
            (try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'subscription'"),
             try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'subscription' ORDER BY name"))
        }
        #expect(sql?.contains("WITHOUT ROWID") == false)
        #expect(indexes == ["subscription_expires_at", "subscription_id"])
        try queue.close()
    }
}
