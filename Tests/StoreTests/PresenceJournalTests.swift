import Foundation
import Testing
@testable import Store

/// Presence soft state in SQLite through the write-behind ``PresenceJournal``.
@Suite("Presence journal")
struct PresenceJournalTests {
    /// Starts the flusher of `journal`; cancel the task to stop it.
    static func start(_ journal: PresenceJournal) -> Task<Void, Never> {
        Task { await journal.run() }
    }

    @Test func recordFlushLoadBack() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let store = try SQLiteStore(directory: dir.path)
        let journal = PresenceJournal(store: store)
        let flusher = Self.start(journal)
        defer { flusher.cancel() }
        let now: Int64 = 1_800_000_000
        let subscriptions = (0..<3).map { subscription("s\($0)", expiresAt: now + 3600) }
        let publication = publication("e1", expiresAt: now + 600)
        #expect(journal.record(subscriptions.map { .upsertSubscription($0) } + [.upsertPublication(publication)]))
        await journal.flush()
        #expect(journal.pendingCount == 0)
        #expect(try await store.loadSubscriptions(now: now).sorted { $0.id < $1.id } == subscriptions)
        #expect(try await store.loadPublications(now: now) == [publication])

        #expect(journal.record([.removeSubscription(id: "s1"), .removePublication(etag: "e1")]))
        await journal.flush()
        #expect(try await store.loadSubscriptions(now: now).map(\.id).sorted() == ["s0", "s2"])
        #expect(try await store.loadPublications(now: now).isEmpty)
    }

    @Test func coalescesWithinABatch() async throws {
        var first = subscription("s1", expiresAt: 100)
        first.remoteCSeq = 1
        var second = first
        second.remoteCSeq = 2
        let batch: [PresenceChange] = [
            .upsertSubscription(first), .upsertSubscription(subscription("s2", expiresAt: 100)),
            .upsertPublication(publication("e1", expiresAt: 100)), .upsertSubscription(second),
            .removeSubscription(id: "s2"), .removePublication(etag: "e1"), .upsertPublication(publication("e2", expiresAt: 100)),
        ]
        #expect(PresenceJournal.coalesced(batch) == [
            .upsertSubscription(second), .removeSubscription(id: "s2"), .removePublication(etag: "e1"),
            .upsertPublication(publication("e2", expiresAt: 100)),
        ])

        // Through the journal: one batch, coalesced, and the store ends in the last state.
        let store = RecordingPresenceStore()
        let journal = PresenceJournal(store: store)
        #expect(journal.record(batch))  // recorded before the flusher starts: one batch
        let flusher = Self.start(journal)
        defer { flusher.cancel() }
        await journal.flush()
        #expect(await store.batches == [PresenceJournal.coalesced(batch)])
    }

    @Test func refusesPastTheCap() async throws {
        let store = RecordingPresenceStore()
        let journal = PresenceJournal(store: store, maxPending: 10)
        let one: [PresenceChange] = [.removeSubscription(id: "x")]
        #expect(journal.record(Array(repeating: one[0], count: 9)))
        #expect(journal.record(Array(repeating: one[0], count: 2)) == false)  // 11 > 10: nothing recorded
        #expect(journal.pendingCount == 9)
        #expect(journal.record(one))
        #expect(journal.record(one) == false)
        let flusher = Self.start(journal)
        await journal.flush()
        #expect(journal.pendingCount == 0)
        #expect(journal.record(one))  // room again
        await journal.flush()
        flusher.cancel()
        await flusher.value
        #expect(journal.record(one) == false)  // stopped: refuses
        #expect(await store.batches.map(\.count) == [1, 1])  // coalesced: one id
    }

    @Test func writesInBatchesOfAtMost5000() async throws {
        let store = RecordingPresenceStore()
        let journal = PresenceJournal(store: store)
        #expect(journal.record((0..<12_000).map { .removeSubscription(id: "s\($0)") }))
        let flusher = Self.start(journal)
        defer { flusher.cancel() }
        await journal.flush()
        #expect(await store.batches.map(\.count) == [5000, 5000, 2000])
    }

    @Test func retriesAFailedWriteKeepingTheChanges() async throws {
        let store = RecordingPresenceStore(failures: 1)
        let journal = PresenceJournal(store: store)
        let flusher = Self.start(journal)
        defer { flusher.cancel() }
        #expect(journal.record([.removeSubscription(id: "a"), .removeSubscription(id: "b")]))
        await journal.flush()
        #expect(await store.attempts == 2)
        #expect(await store.batches == [[.removeSubscription(id: "a"), .removeSubscription(id: "b")]])
    }

    @Test func cancellationWritesWhatIsLeft() async throws {
        let store = RecordingPresenceStore()
        let journal = PresenceJournal(store: store, flushInterval: .seconds(30))
        let flusher = Self.start(journal)
        #expect(journal.record([.removeSubscription(id: "a")]))  // written at once (first write)
        await journal.flush()
        #expect(journal.record([.removeSubscription(id: "b")]))  // waits for the 30 s interval
        try await Task.sleep(for: .milliseconds(50))
        #expect(journal.pendingCount == 1)
        flusher.cancel()
        await flusher.value
        #expect(await store.batches == [[.removeSubscription(id: "a")], [.removeSubscription(id: "b")]])
        await journal.flush()  // returns at once after the flusher stopped
    }

    /// The same with SQLite, which refuses work in a cancelled task: the last write must not run in it.
    @Test func cancellationWritesWhatIsLeftToSQLite() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let store = try SQLiteStore(directory: dir.path)
        let journal = PresenceJournal(store: store, flushInterval: .seconds(30))
        let flusher = Self.start(journal)
        #expect(journal.record([.upsertSubscription(subscription("a", expiresAt: 4_000_000_000))]))
        await journal.flush()
        #expect(journal.record([.upsertSubscription(subscription("b", expiresAt: 4_000_000_000))]))
        try await Task.sleep(for: .milliseconds(50))
        flusher.cancel()
        await flusher.value
        #expect(journal.pendingCount == 0)
        #expect(try await store.loadSubscriptions(now: 0).map(\.id).sorted() == ["a", "b"])
    }

    @Test func restartKeepsRecordsWithTheirExpiryAndPurges() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let now: Int64 = 1_800_000_000
        var route = subscription("s1", expiresAt: now + 100)
        route.routeSet = ["<sip:p1.example.net;lr>", "<sip:p2.example.net;lr>"]
        let records = [route, subscription("s2", expiresAt: now + 3600, flow: nil, localContact: nil)]
        let publications = [publication("e1", expiresAt: now + 100), publication("e2", expiresAt: now + 3600)]
        do {
            let store = try SQLiteStore(directory: dir.path)
            let journal = PresenceJournal(store: store)
            let flusher = Self.start(journal)
            #expect(journal.record(records.map { .upsertSubscription($0) } + publications.map { .upsertPublication($0) }))
            await journal.flush()
            flusher.cancel()
            await flusher.value
            try store.close()
        }
        let store = try SQLiteStore(directory: dir.path)
        #expect(try await store.loadSubscriptions(now: now).sorted { $0.id < $1.id } == records)
        #expect(try await store.loadPublications(now: now).sorted { $0.etag < $1.etag } == publications)
        // Expired ones are not loaded, and purged.
        #expect(try await store.loadSubscriptions(now: now + 100).map(\.id) == ["s2"])
        #expect(try await store.loadPublications(now: now + 100).map(\.etag) == ["e2"])
        #expect(try await store.purgeExpiredPresence(now: now + 100) == 2)
        #expect(try await store.purgeExpiredPresence(now: now + 100) == 0)
        #expect(try await store.loadSubscriptions(now: 0).map(\.id) == ["s2"])
        #expect(try await store.loadPublications(now: 0).map(\.etag) == ["e2"])
    }
}

func subscription(_ id: String, expiresAt: Int64, flow: String? = "tcp:192.0.2.7:5060",
                  localContact: String? = "sip:192.0.2.1:5060;transport=tcp") -> SubscriptionRecord {
    SubscriptionRecord(
        id: id, event: "presence", presentity: "alice@example.com", watcher: "bob@example.org",
        callID: "call-\(id)", localTag: "lt-\(id)", remoteTag: "rt-\(id)", localURI: "<sip:alice@example.com>",
        remoteURI: "\"Bob\" <sip:bob@example.org>", remoteTarget: "sip:bob@192.0.2.7:5060;transport=tcp",
        localCSeq: 3, remoteCSeq: 4_000_000_000, expiresAt: expiresAt, flow: flow, state: "active", localContact: localContact)
}

func publication(_ etag: String, expiresAt: Int64) -> PublicationRecord {
    PublicationRecord(etag: etag, presentity: "alice@example.com", expiresAt: expiresAt,
                      contentType: "application/pidf+xml", body: Array("<presence/>\u{0}\u{FF}".utf8),
                      publishedAt: expiresAt - 100)
}

/// A presence store in memory that records each batch and fails its first `failures` writes.
actor RecordingPresenceStore: PresenceStateStore {
    private(set) var batches: [[PresenceChange]] = []
    private(set) var attempts = 0
    private var failures: Int

    init(failures: Int = 0) { self.failures = failures }

    func loadSubscriptions(now: Int64) async throws(StoreError) -> [SubscriptionRecord] { [] }
    func loadPublications(now: Int64) async throws(StoreError) -> [PublicationRecord] { [] }
    func apply(_ changes: [PresenceChange]) async throws(StoreError) {
        attempts += 1
        if failures > 0 {
            failures -= 1
            throw StoreError(.unavailable, "disk full (test)")
        }
        batches.append(changes)
    }
    func purgeExpiredPresence(now: Int64) async throws(StoreError) -> Int { 0 }
}
