import Logging
import Synchronization

/// The archive service's shipping loop (ARCHITECTURE.md "Archiving"): reads the spool in
/// order, applies each batch to the archive database in one transaction, and only then
/// trims the spool. At least once and idempotent (the archive ignores a (server, message
/// id) it already has), so a crash between the archive's commit and the trim re-ships the
/// batch harmlessly; in order per server (spool order); resumes after a crash (the spool
/// is durable) or a database outage (retried every `retryDelay`, the spool meanwhile grows).
public final class ArchiveShipper: Sendable {
    public let spool: ArchiveSpool
    public let database: any ArchiveDatabase
    public let batchSize: Int
    public let pollInterval: Duration
    public let retryDelay: Duration
    let logger: Logger

    struct State {
        var failing = false
        var shipped: UInt64 = 0
        /// Events waiting in the spool, and the age of the oldest (ms), as last seen.
        var depth = 0
        var oldest: Int64?
    }
    let state = Mutex(State())

    public init(spool: ArchiveSpool, database: any ArchiveDatabase, batchSize: Int = 5_000,
                pollInterval: Duration = .milliseconds(500), retryDelay: Duration = .seconds(1),
                logger: Logger = Logger(label: "sip.archive.shipper")) {
        self.spool = spool
        self.database = database
        self.batchSize = max(1, batchSize)
        self.pollInterval = pollInterval
        self.retryDelay = retryDelay
        self.logger = logger
    }

    /// False while the archive database refuses writes (the last shipment failed).
    public var isHealthy: Bool { state.withLock { !$0.failing } }
    /// Events shipped since start.
    public var shipped: UInt64 { state.withLock { $0.shipped } }
    /// Events in the spool, and how old the oldest is in seconds (0 when empty), as last seen.
    public var backlog: (depth: Int, lagSeconds: Double) {
        state.withLock { s in
            (s.depth, s.oldest.map { max(0, Double(ArchiveTime.now() - $0) / 1000) } ?? 0)
        }
    }

    /// Ships until cancelled: a batch at a time, back to back while batches come full, else
    /// every `pollInterval`.
    public func run() async {
        while !Task.isCancelled {
            // The spool's checkpoints are made here, off the forwarding path (ArchiveSpool).
            do throws(ArchiveError) {
                try await spool.checkpointIfDue()
            } catch {
                logger.debug("archive spool checkpoint failed: \(error.reason)")
            }
            do throws(ArchiveError) {
                // A full batch: more is waiting, ship on. Otherwise wait for more, so that a
                // busy server ships a few large batches (an archive row's index pages are then
                // shared by many messages) rather than many small ones.
                let n = try await shipBatch()
                if n < batchSize { try? await Task.sleep(for: pollInterval) }
            } catch {
                let first = state.withLock { s in
                    defer { s.failing = true }
                    return !s.failing
                }
                if first { logger.error("archive shipping failed, will retry: \(error.reason)") }
                if let depth = try? await spool.depth() {
                    state.withLock { s in
                        s.depth = depth.count
                        s.oldest = depth.oldest
                    }
                }
                try? await Task.sleep(for: retryDelay)
            }
        }
    }

    /// Ships everything in the spool now (sipctl, tests); returns the events shipped.
    @discardableResult
    public func shipAll() async throws(ArchiveError) -> Int {
        var total = 0
        while true {
            let n = try await shipBatch()
            if n == 0 { return total }
            total += n
        }
    }

    /// One batch: read, apply, trim. Returns how many events it shipped.
    func shipBatch() async throws(ArchiveError) -> Int {
        let batch = try await spool.read(limit: batchSize)
        guard let last = batch.last?.seq else {
            state.withLock { s in
                s.depth = 0
                s.oldest = nil
            }
            return 0
        }
        try await database.apply(batch.map(\.event))
        // The database took it: healthy again (before the trim, so that no one sees an empty
        // spool while the shipper still says it is failing).
        let recovered: Bool = state.withLock { s in
            defer { s.failing = false }
            return s.failing
        }
        if recovered { logger.notice("archive shipping resumed") }
        try await spool.trim(through: last)
        let depth = try? await spool.depth()
        state.withLock { s in
            s.shipped += UInt64(batch.count)
            if let depth {
                s.depth = depth.count
                s.oldest = depth.oldest
            }
        }
        return batch.count
    }
}
