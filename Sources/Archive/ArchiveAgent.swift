import Dispatch
import Foundation
import Logging
import Synchronization

/// The archiving agent of a relaying server (ARCHITECTURE.md "Archiving"): the routing step
/// hands it each MESSAGE before forwarding; it queues the record under a short lock and
/// returns at once (never touching the disk on the event loop). One writer thread takes
/// everything queued and writes it to its ``ArchiveSink`` in one transaction (group commit:
/// the messages arriving during a commit share the next one), then calls each message's
/// completion on that thread: the caller forwards the message only then, so a message is
/// never relayed before it is durable. The sink is the embedded ``SQLiteArchive`` itself when
/// archiving locally, the ``ArchiveSpool`` when a shipper carries it to PostgreSQL. No Task,
/// actor hop or AsyncStream element per message, and none per batch either: the writer is a
/// thread of its own, woken by a semaphore only when the queue goes from empty to non-empty,
/// and it writes on itself (SQLite's blocking API), so a batch costs one wake-up.
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
        /// ``run()`` was cancelled: the writer writes what is queued and stops.
        var stopping = false
        /// Transactions written, and the time spent in them (the shutdown log line).
        var batches: UInt64 = 0
        var writing: Duration = .zero
    }

    public let serverName: String
    /// Where each group commit goes.
    public let sink: any ArchiveSink
    public let maxPending: Int
    /// The most events written in one transaction.
    public let batchSize: Int
    let ids = ArchiveIDGenerator()
    let state = Mutex(State())
    let logger: Logger
    /// Rung when the queue goes from empty to non-empty, and to stop the writer.
    private let doorbell = DispatchSemaphore(value: 0)

    public init(serverName: String, sink: any ArchiveSink, maxPending: Int = 20_000, batchSize: Int = 2_000,
                logger: Logger = Logger(label: "sip.archive")) {
        self.serverName = serverName
        self.sink = sink
        self.maxPending = max(1, maxPending)
        self.batchSize = max(1, batchSize)
        self.logger = logger
    }

    /// An agent writing to `spool` (shipped elsewhere by an ``ArchiveShipper``).
    public convenience init(serverName: String, spool: ArchiveSpool, maxPending: Int = 20_000, batchSize: Int = 2_000,
                            logger: Logger = Logger(label: "sip.archive")) {
        self.init(serverName: serverName, sink: spool, maxPending: maxPending, batchSize: batchSize, logger: logger)
    }

    /// A fresh message id, unique for this server (``ArchiveIDGenerator``).
    public func nextMessageID() -> String {
        ids.id(state.withLock { s in
            s.counter += 1
            return s.counter
        })
    }

    /// Queues `record` and returns at once; `completion` is called (on the writer thread)
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
        if wasEmpty { doorbell.signal() }
        return true
    }

    /// Events queued in memory and not yet in the spool.
    public var pendingCount: Int { state.withLock { $0.pending.count } }
    /// False while the spool refuses writes (the last write failed).
    public var isWritable: Bool { state.withLock { !$0.failing } }
    /// Events committed to the spool since start, and events refused (queue full or stopped).
    public var counts: (committed: UInt64, refused: UInt64) { state.withLock { ($0.committed, $0.refused) } }

    /// The writer: runs (on a thread of its own) until cancelled, then writes what is queued
    /// and refuses the rest.
    public func run() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                let thread = Thread { [self] in
                    writerLoop()
                    done.resume()
                }
                thread.name = "sip.archive.writer"
                thread.start()
            }
        } onCancel: {
            state.withLock { $0.stopping = true }
            doorbell.signal()
        }
    }

    private func writerLoop() {
        while true {
            doorbell.wait()
            drain()
            if state.withLock({ $0.stopping }) { break }
        }
        drain()
        let left: [Entry] = state.withLock { s in
            s.finished = true
            defer { s.pending = [] }
            return s.pending
        }
        write(left)
        let (events, batches, writing) = state.withLock { ($0.committed, $0.batches, $0.writing) }
        logger.info("archive writer stopped", metadata: [
            "archive.events": "\(events)", "archive.batches": "\(batches)",
            "archive.writing_ms": "\(writing.components.seconds * 1000 + writing.components.attoseconds / 1_000_000_000_000_000)"])
    }

    /// Writes everything queued, batch after batch.
    func drain() {
        while true {
            let batch: [Entry] = state.withLock { s in
                if s.pending.count <= batchSize {
                    defer { s.pending = [] }
                    return s.pending
                }
                defer { s.pending.removeFirst(batchSize) }
                return Array(s.pending.prefix(batchSize))
            }
            if batch.isEmpty { return }
            write(batch)
        }
    }

    private func write(_ batch: [Entry]) {
        guard !batch.isEmpty else { return }
        var ok = true
        let started = ContinuousClock.now
        defer {
            let spent = ContinuousClock.now - started
            state.withLock { s in
                s.batches += 1
                s.writing += spent
            }
        }
        do throws(ArchiveError) {
            try sink.writeNow(batch.map(\.event))
        } catch {
            ok = false
            logger.error("archive write failed: \(batch.count) events not archived", metadata: [
                "archive.error": "\(error.reason)"])
        }
        let wasFailing: Bool = state.withLock { s in
            defer { s.failing = !ok }
            if ok { s.committed += UInt64(batch.count) }
            return s.failing
        }
        if ok, wasFailing { logger.notice("archive writable again") }
        for entry in batch { entry.completion?(ok) }
    }
}
