import Logging
import Synchronization

/// The write-behind journal of presence soft state (RFC 6665 subscriptions, RFC 3903
/// publications): the presence agent changes its in-memory tables on the event loop, then
/// ``record(_:)`` queues the changes under a short lock and returns at once; one background
/// flusher (``run()``) writes them to a ``PresenceStateStore`` in batches of up to 5,000
/// changes per transaction, at most every `flushInterval`. No Task, actor hop or
/// AsyncStream element per change (ARCHITECTURE.md "The hot path"): a doorbell is rung only
/// when the queue goes from empty to non-empty.
///
/// Loss window: unlike a binding (whose REGISTER waits for its commit, ``LocationTable``), a
/// change is acknowledged before it is written, so the changes recorded within the last flush
/// interval (or, while the storage refuses writes, since the last successful write) may be lost
/// on a crash of the process; an OS crash or power loss may also lose what
/// ``SQLiteStore/Durability/bounded(syncEvery:)`` allows. Presence is soft state (RFC 6665 §4.2.1
/// refreshes, RFC 3903 §4.1 republishes): the clients restore it within one refresh interval.
///
/// Bounded (ARCHITECTURE.md "every queue has a cap"): past ``maxPending`` waiting changes,
/// ``record(_:)`` refuses (the caller answers 503 with Retry-After). A failed write is logged and
/// retried after a second, its changes kept in order.
public final class PresenceJournal: Sendable {
    let store: any PresenceStateStore
    let logger: Logger
    /// The cap on changes waiting to be written.
    public let maxPending: Int
    /// The shortest time between two writes: changes arriving meanwhile share one transaction.
    public let flushInterval: Duration
    /// The most changes written in one transaction.
    public static let batchSize = 5_000

    struct State {
        /// Changes recorded and not yet written are `pending[head...]`; the flusher writes a
        /// prefix and only then drops it, so a failed write keeps them in order.
        var pending: [PresenceChange] = []
        var head = 0
        /// Changes ever recorded, and ever written (or given up at shutdown): ``flush()``
        /// waits until `written` reaches the `recorded` it saw.
        var recorded: UInt64 = 0
        var written: UInt64 = 0
        var waiters: [(target: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
        /// Set when ``run()`` returned: nothing more is written, ``record(_:)`` refuses.
        var finished = false

        var waiting: Int { pending.count - head }
    }
    private let state = Mutex(State())
    private let doorbell: AsyncStream<Void>
    private let ring: AsyncStream<Void>.Continuation

    public init(store: any PresenceStateStore, maxPending: Int = 200_000, flushInterval: Duration = .milliseconds(50),
                logger: Logger = Logger(label: "sip.presence.journal")) {
        self.store = store
        self.logger = logger
        self.maxPending = max(1, maxPending)
        self.flushInterval = flushInterval
        (doorbell, ring) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Queues `changes` (applied in order) and returns at once, never blocking on the store.
    /// Returns false and records nothing when that would put more than ``maxPending`` changes
    /// in the queue, or after ``run()`` has returned.
    public func record(_ changes: [PresenceChange]) -> Bool {
        guard !changes.isEmpty else { return true }
        let outcome: Bool? = state.withLock { state in
            guard !state.finished, state.waiting + changes.count <= maxPending else { return nil }
            let wasEmpty = state.waiting == 0
            state.pending.append(contentsOf: changes)
            state.recorded += UInt64(changes.count)
            return wasEmpty
        }
        guard let wasEmpty = outcome else { return false }
        if wasEmpty { ring.yield() }
        return true
    }

    /// Changes recorded and not yet written.
    public var pendingCount: Int { state.withLock { $0.waiting } }

    /// Returns once every change recorded before the call is written (or, at shutdown, given
    /// up). Needs ``run()`` to be running, or to run later.
    public func flush() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state in
                if state.finished || state.written >= state.recorded { return true }
                state.waiters.append((state.recorded, continuation))
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// The flusher: waits for changes, writes them (at most every ``flushInterval``), until the
    /// task is cancelled; then writes what is left once and returns. Run it once.
    public func run() async {
        var bell = doorbell.makeAsyncIterator()
        let clock = ContinuousClock()
        var nextWrite = clock.now
        while !Task.isCancelled {
            if state.withLock({ $0.waiting }) == 0 {
                guard await bell.next() != nil else { break }
                continue
            }
            do { try await Task.sleep(until: nextWrite, clock: clock) } catch { break }
            nextWrite = clock.now + flushInterval
            guard await drain(retrying: true) else { break }
        }
        // Cancelled: one last attempt for what is left, then release every waiter. In a task of
        // its own: this one is cancelled, and a store may refuse work in a cancelled task (GRDB).
        _ = await Task { await self.drain(retrying: false) }.value
        let (lost, waiters) = state.withLock { state in
            state.finished = true
            let lost = state.waiting
            state.pending = []
            state.head = 0
            state.written = state.recorded
            defer { state.waiters = [] }
            return (lost, state.waiters)
        }
        if lost > 0 {
            logger.error("presence journal stopped with unwritten changes", metadata: ["presence.lost_changes": "\(lost)"])
        }
        for waiter in waiters { waiter.continuation.resume() }
        ring.finish()
    }

    /// Writes every waiting change, batch by batch. A failed batch is logged and, when
    /// `retrying`, tried again after a second (false if cancelled meanwhile); otherwise the
    /// drain stops there.
    private func drain(retrying: Bool) async -> Bool {
        while true {
            let batch: [PresenceChange] = state.withLock { state in
                let end = state.head + min(state.waiting, Self.batchSize)
                return Array(state.pending[state.head..<end])
            }
            if batch.isEmpty { return true }
            do {
                try await store.apply(Self.coalesced(batch))
            } catch {
                // Cancelled meanwhile (a store may refuse work in a cancelled task): ``run()``
                // writes these once more on the way out.
                if retrying, Task.isCancelled { return false }
                logger.error("presence state write failed", metadata: [
                    "store.error": "\(error)", "presence.pending": "\(pendingCount)",
                ])
                guard retrying else { return false }
                do { try await Task.sleep(for: .seconds(1)) } catch { return false }
                continue
            }
            let ready: [CheckedContinuation<Void, Never>] = state.withLock { state in
                state.head += batch.count
                state.written += UInt64(batch.count)
                if state.head == state.pending.count {
                    state.pending.removeAll(keepingCapacity: state.pending.count <= 1_024)
                    state.head = 0
                } else if state.head > state.pending.count / 2 {
                    state.pending.removeFirst(state.head)
                    state.head = 0
                }
                let written = state.written
                let ready = state.waiters.filter { $0.target <= written }.map(\.continuation)
                state.waiters.removeAll { $0.target <= written }
                return ready
            }
            for continuation in ready { continuation.resume() }
        }
    }

    /// Keeps, for each subscription id and each entity-tag, only its last change in `batch`
    /// (the state after the batch is the same), in their original order.
    static func coalesced(_ batch: [PresenceChange]) -> [PresenceChange] {
        var seenSubscriptions = Set<String>()
        var seenPublications = Set<String>()
        var kept: [PresenceChange] = []
        kept.reserveCapacity(batch.count)
        for change in batch.reversed() {
            let isLast: Bool
            switch change {
            case .upsertSubscription(let s): isLast = seenSubscriptions.insert(s.id).inserted
            case .removeSubscription(let id): isLast = seenSubscriptions.insert(id).inserted
            case .upsertPublication(let p): isLast = seenPublications.insert(p.etag).inserted
            case .removePublication(let etag): isLast = seenPublications.insert(etag).inserted
            }
            if isLast { kept.append(change) }
        }
        kept.reverse()
        return kept
    }
}
