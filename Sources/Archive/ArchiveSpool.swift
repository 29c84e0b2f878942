import Foundation
import GRDB
import Synchronization

/// The durable local spool (`DIR/archive-spool.sqlite`): archive events appended in order
/// by the ``ArchiveAgent``'s writer (one transaction per batch: group commit), read and
/// trimmed in order by the ``ArchiveShipper`` once the archive database has committed them.
/// Its own SQLite file, in WAL mode, so that neither the main store's migrations nor its
/// writers ever wait on it.
///
/// Durability: with `fsync` off (the default, `synchronous = NORMAL`), a committed batch
/// survives a crash or SIGKILL of the process; an OS crash or power loss may lose the batches
/// committed since the last WAL checkpoint. With `fsync` on (`synchronous = FULL`) every
/// commit is fsynced.
///
/// Checkpoints are never made by the writer: the agent's commits are on the forwarding path
/// of every archived MESSAGE, and a checkpoint (an fsync of the WAL and of the file) in one of
/// them would stall every MESSAGE waiting for it. SQLite's automatic checkpoint is off; the
/// shipper calls ``checkpointIfDue(every:)`` (at most every half second by default), which
/// checkpoints passively from a connection of its own while the writer goes on appending.
/// The power-loss window is that interval, as long as the shipper runs.
public final class ArchiveSpool: ArchiveSink {
    public static let fileName = "archive-spool.sqlite"

    public struct Configuration: Sendable {
        /// `synchronous = FULL`: each batch fsynced before its messages are forwarded.
        public var fsync = false
        /// Caps the file (`PRAGMA max_page_count`, pages of 4 KiB); a write past it fails as a
        /// full disk does. nil: SQLite's default.
        public var maxPageCount: Int?
        public init() {}
    }

    let pool: DatabasePool
    /// A connection of its own for checkpoints, so that they never queue behind the writer.
    let checkpointer: DatabaseQueue
    let lastCheckpoint = Mutex(ContinuousClock.now)
    public let path: String

    /// Opens (creating the directory and file if missing) the spool in `directory`.
    public init(directory: String, configuration: Configuration = Configuration()) throws(ArchiveError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ArchiveError(.openFailed, "cannot create data directory \(directory): \(error.localizedDescription)")
        }
        path = (directory as NSString).appendingPathComponent(Self.fileName)
        var config = GRDB.Configuration()
        config.busyMode = .timeout(5)
        config.maximumReaderCount = 2
        let synchronous = configuration.fsync ? "FULL" : "NORMAL"
        let maxPages = configuration.maxPageCount
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
            _ = try Row.fetchOne(db, sql: "PRAGMA wal_autocheckpoint = 0")
            if let maxPages { _ = try Row.fetchOne(db, sql: "PRAGMA max_page_count = \(maxPages)") }
        }
        var checkpointConfig = GRDB.Configuration()
        checkpointConfig.busyMode = .timeout(1)
        do {
            pool = try DatabasePool(path: path, configuration: config)
            var migrator = DatabaseMigrator()
            migrator.registerMigration("v1-spool") { db in
                try db.execute(sql: """
                    CREATE TABLE spool (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        kind INTEGER NOT NULL,
                        message_id TEXT NOT NULL,
                        server TEXT NOT NULL,
                        from_uri TEXT NOT NULL DEFAULT '',
                        to_uri TEXT NOT NULL DEFAULT '',
                        time INTEGER NOT NULL,
                        call_id TEXT NOT NULL DEFAULT '',
                        cseq INTEGER NOT NULL DEFAULT 0,
                        content_type TEXT NOT NULL DEFAULT '',
                        body BLOB NOT NULL DEFAULT x'',
                        status INTEGER
                    )
                    """)
            }
            try migrator.migrate(pool)
            try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = \(synchronous)") }
            checkpointer = try DatabaseQueue(path: path, configuration: checkpointConfig)
        } catch {
            throw ArchiveError(.openFailed, "cannot open archive spool \(path): \(error)")
        }
    }

    /// Appends `events` in order, in one transaction (the group commit).
    public func append(_ events: [ArchiveEvent]) async throws(ArchiveError) {
        guard !events.isEmpty else { return }
        do {
            try await pool.write { db in try Self.insert(events, into: db) }
        } catch {
            throw ArchiveError(.writeFailed, "cannot write the archive spool \(path): \(error)")
        }
    }

    /// ``append(_:)`` on the calling thread (``ArchiveSink``: the agent's writer thread).
    public func writeNow(_ events: [ArchiveEvent]) throws(ArchiveError) {
        guard !events.isEmpty else { return }
        do {
            try pool.write { db in try Self.insert(events, into: db) }
        } catch {
            throw ArchiveError(.writeFailed, "cannot write the archive spool \(path): \(error)")
        }
    }

    static func insert(_ events: [ArchiveEvent], into db: Database) throws {
        let statement = try db.cachedStatement(sql: """
            INSERT INTO spool (kind, message_id, server, from_uri, to_uri, time, call_id, cseq, content_type, body, status)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        for event in events {
            switch event {
            case .message(let r):
                try statement.execute(arguments: [0, r.messageID, r.server, r.from, r.to, r.time, r.callID, r.cseq,
                                                  r.contentType, Data(r.body), r.status])
            case .status(let server, let id, let status):
                try statement.execute(arguments: [1, id, server, "", "", ArchiveTime.now(), "", 0, "", Data(), status])
            }
        }
    }

    /// A passive checkpoint (the WAL's committed frames copied into the file, both fsynced)
    /// when the last one is at least `interval` old; from its own connection, so the writer
    /// keeps appending meanwhile. Returns whether it ran.
    @discardableResult
    public func checkpointIfDue(every interval: Duration = .milliseconds(500)) async throws(ArchiveError) -> Bool {
        let now = ContinuousClock.now
        let due = lastCheckpoint.withLock { last in
            guard now - last >= interval else { return false }
            last = now
            return true
        }
        guard due else { return false }
        do {
            try await checkpointer.writeWithoutTransaction { db in _ = try db.checkpoint(.passive) }
            return true
        } catch {
            throw ArchiveError(.writeFailed, "cannot checkpoint the archive spool \(path): \(error)")
        }
    }

    /// Up to `limit` events after `seq`, oldest first, with their sequence numbers, stopping
    /// early once the bodies read reach `maxBytes` (at least one event is returned).
    public func read(after seq: Int64 = 0, limit: Int, maxBytes: Int = 16 << 20) async throws(ArchiveError)
        -> [(seq: Int64, event: ArchiveEvent)]
    {
        do {
            return try await pool.read { db in
                var events: [(seq: Int64, event: ArchiveEvent)] = []
                var bytes = 0
                // Columns by position (as selected), not by name: no name lookup per row.
                let rows = try Row.fetchCursor(db, sql: """
                    SELECT seq, kind, message_id, server, from_uri, to_uri, time, call_id, cseq, content_type, body, status
                    FROM spool WHERE seq > ? ORDER BY seq LIMIT ?
                    """, arguments: [seq, limit])
                while let row = try rows.next() {
                    let seq: Int64 = row[0]
                    let kind: Int = row[1]
                    if kind == 1 {
                        events.append((seq, .status(server: row[3], messageID: row[2], status: row[11])))
                        continue
                    }
                    let body: Data = row[10]
                    events.append((seq, .message(ArchiveRecord(
                        messageID: row[2], server: row[3], from: row[4], to: row[5], time: row[6], callID: row[7],
                        cseq: row[8], contentType: row[9], body: [UInt8](body), status: row[11]))))
                    bytes += body.count
                    if bytes >= maxBytes { break }
                }
                return events
            }
        } catch {
            throw ArchiveError(.readFailed, "cannot read the archive spool \(path): \(error)")
        }
    }

    /// Drops every event up to and including `seq` (called once the archive committed them).
    public func trim(through seq: Int64) async throws(ArchiveError) {
        do {
            try await pool.write { db in try db.execute(sql: "DELETE FROM spool WHERE seq <= ?", arguments: [seq]) }
        } catch {
            throw ArchiveError(.writeFailed, "cannot trim the archive spool \(path): \(error)")
        }
    }

    /// Events waiting, and when the oldest was recorded (ms since the epoch; nil when empty).
    /// Sequence numbers are contiguous (one writer, AUTOINCREMENT, trimmed as a prefix), so
    /// this reads two index ends, not the table.
    public func depth() async throws(ArchiveError) -> (count: Int, oldest: Int64?) {
        do {
            return try await pool.read { db in
                guard let row = try Row.fetchOne(db, sql: "SELECT MIN(seq) AS lo, MAX(seq) AS hi FROM spool"),
                      let lo: Int64 = row["lo"], let hi: Int64 = row["hi"] else { return (0, nil) }
                let oldest = try Int64.fetchOne(db, sql: "SELECT time FROM spool WHERE seq = ?", arguments: [lo])
                return (Int(hi - lo + 1), oldest)
            }
        } catch {
            throw ArchiveError(.readFailed, "cannot read the archive spool \(path): \(error)")
        }
    }

    public func close() throws {
        try checkpointer.close()
        try pool.close()
    }
}
