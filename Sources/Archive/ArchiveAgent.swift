import Logging
import Synchronization

/// The archiving agent of a relaying server (ARCHITECTURE.md "Archiving"): the routing step
/// hands it each MESSAGE before forwarding; it queues the record under a short lock and
/// returns at once (never touching the disk on the event loop). One writer (``run()``) takes
/// everything queued and appends it to the ``ArchiveSpool`` in one transaction (group
/// commit: the messages arriving during a commit share the next one), then calls each
/// message's completion: the caller forwards the message only then, so a message is never
/// relayed before it is durable in the spool. No Task, actor hop or AsyncStream element per
/// message: a doorbell is rung only when the queue goes from empty to non-empty.
///
/// Loss window: none for a process crash (a message is forwarded only after its batch is
/// committed); an OS crash or power loss may lose what ``ArchiveSpool/Configuration/fsync``
/// off allows. Final statuses are queued the same way but acknowledged to nobody: a crash
/// may lose the statuses of the last batch (the message stays archived without a status).
///
/// Bounded: past ``maxPending`` waiting events, ``archive(_:completion:)`` refuses (the
/// caller answers 503 with Retry-After).
public final class ArchiveAgent: Sendable {
    public typealias Completion = @Sendable (Bool) -> Void

    struct Entry {
        var event: ArchiveEvent
        var completion: Completion?
    }

    struct State {
        var pending: [Entry] = []
        var counter: UInt64 = 0
        var finished = false
        /// The last spool write failed (cleared by the next that succeeds).
        var failing = false
        var committed: UInt64 = 0
        var refused: UInt64 = 0
    }

    public let serverName: String
    public let spool: ArchiveSpool
    public let maxPending: Int
    /// The most events written in one transaction.
    public let batchSize: Int
    let ids = ArchiveIDGenerator()
    let state = Mutex(State())
    let logger: Logger
    private let doorbell: AsyncStream<Void>
    private let ring: AsyncStream<Void>.Continuation

    public init(serverName: String, spool: ArchiveSpool, maxPending: Int = 20_000, batchSize: Int = 2_000,
                logger: Logger = Logger(label: "sip.archive")) {
        self.serverName = serverName
        self.spool = spool
        self.maxPending = max(1, maxPending)
        self.batchSize = max(1, batchSize)
        self.logger = logger
        (doorbell, ring) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// A fresh message id, unique for this server (``ArchiveIDGenerator``).
    public func nextMessageID() -> String {
        ids.id(state.withLock { s in
            s.counter += 1
            return s.counter
        })
    }

    /// Queues `record` and returns at once; `completion` is called (on the writer's task)
    /// with true once the record is durable in the spool, false when the write failed.
    /// Returns false, queueing nothing, when the queue is full or the agent has stopped.
    public func archive(_ record: ArchiveRecord, completion: @escaping Completion) -> Bool {
        enqueue(Entry(event: .message(record), completion: completion))
    }

    /// Queues the final status of a message archived earlier (best effort: dropped, with a
    /// log line, when the queue is full).
    public func recordStatus(messageID: String, status: Int) {
        if !enqueue(Entry(event: .status(server: serverName, messageID: messageID, status: status), completion: nil)) {
            logger.warning("archive queue full: final status not recorded", metadata: ["archive.message_id": "\(messageID)"])
        }
    }

    private func enqueue(_ entry: Entry) -> Bool {
        let outcome: Bool? = state.withLock { s in
            guard !s.finished, s.pending.count < maxPending else {
                s.refused += 1
                return nil
            }
            s.pending.append(entry)
            return s.pending.count == 1
        }
        guard let wasEmpty = outcome else { return false }
        if wasEmpty { ring.yield() }
        return true
    }

    /// Events queued in memory and not yet in the spool.
    public var pendingCount: Int { state.withLock { $0.pending.count } }
    /// False while the spool refuses writes (the last write failed).
    public var isWritable: Bool { state.withLock { !$0.failing } }
    /// Events committed to the spool since start, and events refused (queue full or stopped).
    public var counts: (committed: UInt64, refused: UInt64) { state.withLock { ($0.committed, $0.refused) } }

    /// The writer: runs until cancelled, then writes what is queued and refuses the rest.
    public func run() async {
        for await _ in doorbell {
            await drain()
            if Task.isCancelled { break }
        }
        await drain()
        let left: [Entry] = state.withLock { s in
            s.finished = true
            defer { s.pending = [] }
            return s.pending
        }
        await write(left)
    }

    /// Writes everything queued, batch after batch.
    func drain() async {
        while true {
            let batch: [Entry] = state.withLock { s in
                let n = min(batchSize, s.pending.count)
                let taken = Array(s.pending.prefix(n))
                s.pending.removeFirst(n)
                return taken
            }
            if batch.isEmpty { return }
            await write(batch)
        }
    }

    private func write(_ batch: [Entry]) async {
        guard !batch.isEmpty else { return }
        var ok = true
        do throws(ArchiveError) {
            try await spool.append(batch.map(\.event))
        } catch {
            ok = false
            logger.error("archive spool write failed: \(batch.count) events not archived", metadata: [
                "archive.error": "\(error.reason)"])
        }
        let wasFailing: Bool = state.withLock { s in
            defer { s.failing = !ok }
            if ok { s.committed += UInt64(batch.count) }
            return s.failing
        }
        if ok, wasFailing { logger.notice("archive spool writable again") }
        for entry in batch { entry.completion?(ok) }
    }
}
