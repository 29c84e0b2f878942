import Foundation
import GRDB

/// Where the shipper puts archived messages: the embedded SQLite archive by default (a
/// PostgreSQL one for the central archive of many servers can stand beside it).
public protocol ArchiveDatabase: Sendable {
    /// Applies `events` in order, in one transaction: a message is inserted unless its
    /// (server, message id) is already there (idempotent: a batch shipped twice is stored
    /// once); a status sets the final status of the message it names.
    func apply(_ events: [ArchiveEvent]) async throws(ArchiveError)
    /// Messages matching `query`, oldest first (by time, then arrival).
    func search(_ query: ArchiveQuery) async throws(ArchiveError) -> [ArchiveRecord]
    /// Throws when the database cannot be reached (`/health`).
    func ping() async throws(ArchiveError)
    /// Runs what the database needs while in use (a connection pool) until cancelled;
    /// returns at once when it needs nothing.
    func run() async
    /// Where it is, for logs (never a password).
    var location: String { get }
}

extension ArchiveDatabase {
    public func run() async {}
}

/// The embedded archive (`DIR/archive.sqlite`), its own SQLite file in WAL mode: one row per
/// message, unique per (server, message id), indexed by time and by From and To.
///
/// It is also an ``ArchiveSink``: a server archiving locally (`--archive sqlite`) has its
/// agent write here directly, each group commit durable before the MESSAGEs are forwarded,
/// with the durability of ``ArchiveSpool/Configuration`` (`synchronous = NORMAL` unless
/// `fsync`: a SIGKILL loses nothing committed; an OS crash may lose the last commits).
public final class SQLiteArchive: ArchiveDatabase, ArchiveSink {
    public static let fileName = "archive.sqlite"

    let pool: DatabasePool
    public let path: String

    /// Opens (creating when `create`) the archive in `directory`.
    public init(directory: String, create: Bool = true,
                configuration: ArchiveSpool.Configuration = ArchiveSpool.Configuration()) throws(ArchiveError) {
        path = (directory as NSString).appendingPathComponent(Self.fileName)
        if !create, !FileManager.default.fileExists(atPath: path) {
            throw ArchiveError(.openFailed, "no archive at \(path)")
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            var config = GRDB.Configuration()
            config.busyMode = .timeout(5)
            config.maximumReaderCount = 2
            let synchronous = configuration.fsync ? "FULL" : "NORMAL"
            let maxPages = configuration.maxPageCount
            config.prepareDatabase { db in
                try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
                if let maxPages { _ = try Row.fetchOne(db, sql: "PRAGMA max_page_count = \(maxPages)") }
            }
            pool = try DatabasePool(path: path, configuration: config)
            var migrator = DatabaseMigrator()
            migrator.registerMigration("v1-message") { db in
                try db.execute(sql: """
                    CREATE TABLE message (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT,
                        server TEXT NOT NULL,
                        message_id TEXT NOT NULL,
                        from_uri TEXT NOT NULL,
                        to_uri TEXT NOT NULL,
                        from_key TEXT NOT NULL,
                        to_key TEXT NOT NULL,
                        time INTEGER NOT NULL,
                        call_id TEXT NOT NULL,
                        cseq INTEGER NOT NULL,
                        content_type TEXT NOT NULL,
                        body BLOB NOT NULL,
                        status INTEGER,
                        UNIQUE (server, message_id)
                    );
                    CREATE INDEX message_time ON message (time, seq);
                    CREATE INDEX message_from ON message (from_key, time);
                    CREATE INDEX message_to ON message (to_key, time);
                    """)
            }
            try migrator.migrate(pool)
            try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = \(synchronous)") }
        } catch {
            throw ArchiveError(.openFailed, "cannot open archive \(path): \(error)")
        }
    }

    public func apply(_ events: [ArchiveEvent]) async throws(ArchiveError) {
        guard !events.isEmpty else { return }
        do {
            try await pool.write { db in try Self.apply(events, to: db) }
        } catch {
            throw ArchiveError(.writeFailed, "cannot write archive \(path): \(error)")
        }
    }

    /// ``apply(_:)`` on the calling thread (``ArchiveSink``: the agent's writer thread).
    public func writeNow(_ events: [ArchiveEvent]) throws(ArchiveError) {
        guard !events.isEmpty else { return }
        do {
            try pool.write { db in try Self.apply(events, to: db) }
        } catch {
            throw ArchiveError(.writeFailed, "cannot write archive \(path): \(error)")
        }
    }

    static func apply(_ events: [ArchiveEvent], to db: Database) throws {
        let insert = try db.cachedStatement(sql: """
            INSERT INTO message (server, message_id, from_uri, to_uri, from_key, to_key, time, call_id, cseq,
                                 content_type, body, status)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (server, message_id) DO UPDATE SET status = coalesce(excluded.status, status)
            """)
        let update = try db.cachedStatement(sql: "UPDATE message SET status = ? WHERE server = ? AND message_id = ?")
        // A message shipped again keeps its row (idempotent); a status folded into it still lands.
        for event in ArchiveEvent.foldingStatuses(events) {
            switch event {
            case .message(let r):
                try insert.execute(arguments: [
                    r.server, r.messageID, r.from, r.to, ArchiveRecord.addressKey(r.from),
                    ArchiveRecord.addressKey(r.to), r.time, r.callID, r.cseq, r.contentType, Data(r.body), r.status,
                ])
            case .status(let server, let id, let status):
                try update.execute(arguments: [status, server, id])
            }
        }
    }

    public func search(_ query: ArchiveQuery) async throws(ArchiveError) -> [ArchiveRecord] {
        var clauses: [String] = []
        var arguments: [any DatabaseValueConvertible] = []
        if let from = query.from { clauses.append("from_key = ?"); arguments.append(from) }
        if let to = query.to { clauses.append("to_key = ?"); arguments.append(to) }
        if let since = query.since { clauses.append("time >= ?"); arguments.append(since) }
        if let until = query.until { clauses.append("time < ?"); arguments.append(until) }
        for word in query.words {
            clauses.append("instr(lower(CAST(body AS TEXT)), ?) > 0")
            arguments.append(word.lowercased())
        }
        var sql = "SELECT * FROM message"
        if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
        sql += " ORDER BY time, seq"
        if let limit = query.limit { sql += " LIMIT \(limit)" }
        let finalSQL = sql
        let args = StatementArguments(arguments.map { $0.databaseValue })
        do {
            return try await pool.read { db in
                try Row.fetchAll(db, sql: finalSQL, arguments: args).map { row in
                    let body: Data = row["body"]
                    return ArchiveRecord(messageID: row["message_id"], server: row["server"], from: row["from_uri"],
                                         to: row["to_uri"], time: row["time"], callID: row["call_id"], cseq: row["cseq"],
                                         contentType: row["content_type"], body: [UInt8](body), status: row["status"])
                }
            }
        } catch {
            throw ArchiveError(.readFailed, "cannot search archive \(path): \(error)")
        }
    }

    public var location: String { path }

    public func ping() async throws(ArchiveError) {
        _ = try await count()
    }

    /// Messages archived (for tests and health).
    public func count() async throws(ArchiveError) -> Int {
        do {
            return try await pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM message") ?? 0 }
        } catch {
            throw ArchiveError(.readFailed, "cannot read archive \(path): \(error)")
        }
    }

    /// Rows with this message id, read on the calling thread (tests).
    func storedCount(messageID: String) throws -> Int {
        try pool.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM message WHERE message_id = ?", arguments: [messageID]) ?? 0
        }
    }

    public func close() throws { try pool.close() }
}
