import Foundation
import Testing
@testable import Store

@Suite("Location table")
struct LocationTableTests {
    @Test func bindingsSurviveARestart() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let clock = ManualClock()
        do {
            let store = try SQLiteStore(directory: dir.path)
            let table = try await LocationTable.load(from: store, clock: clock.storeClock)
            try await register(table, binding("alice@example.com", "sip:alice@192.0.2.1:5060", expiresAt: clock.now + 3600))
            try await register(table, binding("alice@example.com", "sip:alice@192.0.2.2:5060", expiresAt: clock.now + 60))
            try await register(table, binding("bob@example.com", "sip:bob@192.0.2.3:5060", expiresAt: clock.now + 60))
            #expect(await table.lookup("alice@example.com").count == 2)
            try store.close()
        }
        let store = try SQLiteStore(directory: dir.path)
        let table = try await LocationTable.load(from: store, clock: clock.storeClock)
        let alice = await table.lookup("alice@example.com")
        #expect(Set(alice.map(\.contact)) == ["sip:alice@192.0.2.1:5060", "sip:alice@192.0.2.2:5060"])
        let restored = try #require(alice.first { $0.contact == "sip:alice@192.0.2.1:5060" })
        #expect(restored == binding("alice@example.com", "sip:alice@192.0.2.1:5060", expiresAt: clock.now + 3600))
        #expect(await table.lookup("bob@example.com").count == 1)
    }

    @Test func bindingsExpireOnTime() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        let clock = ManualClock()
        let store = try SQLiteStore(directory: dir.path)
        let table = try await LocationTable.load(from: store, clock: clock.storeClock)
        try await register(table, binding("alice@example.com", "sip:alice@192.0.2.1", expiresAt: clock.now + 10))
        try await register(table, binding("alice@example.com", "sip:alice@192.0.2.2", expiresAt: clock.now + 100))
        clock.advance(9)
        #expect(await table.lookup("alice@example.com").count == 2)
        clock.advance(1)  // exactly at expiry: gone (RFC 3261 §10.2.1.1)
        #expect(await table.lookup("alice@example.com").map(\.contact) == ["sip:alice@192.0.2.2"])
        #expect(try await table.purgeExpired() == 1)
        #expect(try await store.loadBindings(now: 0).map(\.contact) == ["sip:alice@192.0.2.2"])
        clock.advance(90)
        #expect(await table.lookup("alice@example.com").isEmpty)
        // A restart after expiry loads nothing, even before a purge.
        let reloaded = try await LocationTable.load(from: store, clock: clock.storeClock)
        #expect(await reloaded.lookup("alice@example.com").isEmpty)
        #expect(await reloaded.bindingCount == 0)
    }

    @Test func lookupOrdersByQ() async throws {
        let fake = GatedBindingStore()
        await fake.openGate()
        let table = try await LocationTable.load(from: fake)
        let later = StoreClock.system.now() + 600
        for (host, q) in [("low", UInt16(200)), ("none", nil), ("mid", 700)] as [(String, UInt16?)] {
            var b = binding("alice@example.com", "sip:alice@\(host).example.net", expiresAt: later)
            b.qThousandths = q
            try await register(table, b)
        }
        #expect(await table.lookup("alice@example.com").map(\.contact)
            == ["sip:alice@none.example.net", "sip:alice@mid.example.net", "sip:alice@low.example.net"])
    }

    @Test func concurrentRegistrationsShareOneCommit() async throws {
        let fake = GatedBindingStore()
        let table = try await LocationTable.load(from: fake)
        let now = StoreClock.system.now()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<100 {
                group.addTask {
                    try await register(table, binding("u\(i)@example.com", "sip:u\(i)@192.0.2.1", expiresAt: now + 600))
                }
            }
            // The first commit is held until every other registration has queued behind it.
            #expect(await eventually { await fake.heldChanges + table.queuedChanges == 100 })
            await fake.openGate()
            try await group.waitForAll()
        }
        let batches = await fake.applied
        // All 100 were queued while the first commit was held: at most two commits for them.
        #expect(batches.count <= 2)
        #expect(batches.map(\.count).reduce(0, +) == 100)
        #expect(await table.committedBatches == batches.count)
        #expect(await table.lookup("u42@example.com").count == 1)
    }

    @Test func noChangeWritesNothing() async throws {
        let fake = GatedBindingStore()
        await fake.openGate()
        let table = try await LocationTable.load(from: fake)
        let count = try await table.update(aor: "nobody@example.com") { bindings, _ in bindings.count }
        #expect(count == 0)
        #expect(await fake.applied.isEmpty)
    }
}

@Suite("Durability")
struct DurabilityTests {
    func mainFileSize(_ dir: TempDir) throws -> Int {
        let path = (dir.path as NSString).appendingPathComponent(SQLiteStore.fileName)
        return try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? -1
    }

    /// Bounded durability: commits stay in the WAL until the sync interval has passed, then a
    /// checkpoint moves them into the (fsynced) main file.
    @Test func boundedDurabilitySyncsOnInterval() async throws {
        let dir = try TempDir()
        defer { dir.remove() }
        var lazy = SQLiteStore.Configuration()
        lazy.durability = .bounded(syncEvery: .seconds(3600))
        let store = try SQLiteStore(directory: dir.path, configuration: lazy)
        let before = try mainFileSize(dir)
        let now = StoreClock.system.now()
        try await store.apply((0..<300).map { .upsert(binding("u\($0)@example.com", "sip:u\($0)@192.0.2.1", expiresAt: now + 60)) })
        #expect(try mainFileSize(dir) == before, "checkpointed before the interval")

        // A second connection whose interval has passed: its commit syncs everything so far.
        var eager = SQLiteStore.Configuration()
        eager.durability = .bounded(syncEvery: .zero)
        let synced = try SQLiteStore(directory: dir.path, configuration: eager)
        try await synced.apply([.upsert(binding("v@example.com", "sip:v@192.0.2.1", expiresAt: now + 60))])
        #expect(try mainFileSize(dir) > before, "not checkpointed once the interval passed")
        #expect(try await synced.loadBindings(now: now).count == 301)
        try store.close()
    }
}

/// A binding store whose commits wait until released (to hold updates in flight).
final class HeldCommitStore: BindingStore {
    let gate = AsyncStream<Void>.makeStream()
    func loadBindings(now: Int64) async throws(StoreError) -> [Binding] { [] }
    func apply(_ changes: [BindingChange]) async throws(StoreError) {
        for await _ in gate.stream { return }
    }
    func purgeExpired(now: Int64) async throws(StoreError) -> Int { 0 }
}

@Suite("Location table caps")
struct LocationTableCapTests {
    /// Past the cap on updates waiting for their commit, an update fails at once with
    /// `.overloaded` (the registrar answers 503 + Retry-After); the admitted ones complete.
    @Test func updatesPastTheCapAreRefusedAtOnce() async throws {
        let store = HeldCommitStore()
        let clock = ManualClock()
        let table = try await LocationTable.load(from: store, clock: clock.storeClock)
        table.setMaxInFlight(3)
        let outcomes = AsyncStream<Result<Int, StoreError>>.makeStream()
        for i in 0..<5 {
            let b = binding("u\(i)@example.com", "sip:u\(i)@192.0.2.1", expiresAt: clock.now + 60)
            table.update(aor: b.aor, { bindings, _ in bindings = [b]; return i }) { outcomes.continuation.yield($0) }
        }
        var iterator = outcomes.stream.makeAsyncIterator()
        for _ in 0..<2 {
            guard case .failure(let error) = await iterator.next() else { Issue.record("expected a refusal"); return }
            #expect(error.code == .overloaded)
            #expect(error.status == 503)
        }
        store.gate.continuation.finish()  // let the commit through
        var done = 0
        for _ in 0..<3 { if case .success = await iterator.next() { done += 1 } }
        #expect(done == 3)
        #expect(table.lookup("u0@example.com").count == 1)
    }
}
