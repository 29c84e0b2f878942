import Archive
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// The central archive of many servers in PostgreSQL (`--archive postgresql://USER:PASS@HOST:PORT/DB`),
/// through postgres-nio's pooled client: the schema is created (and migrated) at start, with
/// indexes for the `sipctl archive` queries; a batch is one transaction; a message is unique
/// per (server, message id), so shipping twice stores it once. ``run()`` must be running
/// (it owns the client's connections) while the archive is used.
public final class PostgresArchive: ArchiveDatabase {
    let client: PostgresClient
    let logger: Logger
    /// The URL without its password, for logs and errors.
    public let location: String
    /// The schema was created by this process (``migrate()`` runs before the first use).
    let prepared = Mutex(false)

    /// - Throws: `unsupported` for a URL that is not `postgres(ql)://USER[:PASS]@HOST[:PORT]/DB`.
    public init(url: String, logger: Logger = Logger(label: "sip.archive.postgres")) throws(ArchiveError) {
        guard let components = URLComponents(string: url), ["postgresql", "postgres"].contains(components.scheme ?? ""),
              let host = components.host, !host.isEmpty, let user = components.user, !user.isEmpty else {
            throw ArchiveError(.unsupported, "bad archive URL (expected postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE)")
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        let port = components.port ?? 5432
        let configuration = PostgresClient.Configuration(host: host, port: port, username: user,
                                                         password: components.password, database: database.isEmpty ? nil : database,
                                                         tls: .disable)
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.logger = logger
        location = "postgresql://\(user)@\(host):\(port)/\(database)"
    }

    /// Keeps the client's connection pool until cancelled.
    public func run() async { await client.run() }

    public func ping() async throws(ArchiveError) {
        try await prepare()
        do {
            try await client.query("SELECT 1", logger: logger)
        } catch {
            throw ArchiveError(.readFailed, "archive \(location) unreachable: \(Self.describe(error))")
        }
    }

    /// The schema, once per process (retried on the next use when it failed).
    func prepare() async throws(ArchiveError) {
        if prepared.withLock({ $0 }) { return }
        try await migrate()
        prepared.withLock { $0 = true }
    }

    /// A PostgreSQL error in one line (postgres-nio hides the server's message from `description`).
    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] { return message }
            return "\(error.code)"
        }
        return "\(error)"
    }

    /// Creates the schema if missing (idempotent; every server may run it).
    public func migrate() async throws(ArchiveError) {
        do {
            try await client.query("""
                CREATE TABLE IF NOT EXISTS sip_archive_message (
                    seq BIGSERIAL PRIMARY KEY,
                    server TEXT NOT NULL,
                    message_id TEXT NOT NULL,
                    from_uri TEXT NOT NULL,
                    to_uri TEXT NOT NULL,
                    from_key TEXT NOT NULL,
                    to_key TEXT NOT NULL,
                    time BIGINT NOT NULL,
                    call_id TEXT NOT NULL,
                    cseq BIGINT NOT NULL,
                    content_type TEXT NOT NULL,
                    body BYTEA NOT NULL,
                    status INTEGER,
                    UNIQUE (server, message_id)
                )
                """, logger: logger)
            try await client.query("CREATE INDEX IF NOT EXISTS sip_archive_time ON sip_archive_message (time, seq)", logger: logger)
            try await client.query("CREATE INDEX IF NOT EXISTS sip_archive_from ON sip_archive_message (from_key, time)", logger: logger)
            try await client.query("CREATE INDEX IF NOT EXISTS sip_archive_to ON sip_archive_message (to_key, time)", logger: logger)
        } catch {
            throw ArchiveError(.openFailed, "cannot create the archive schema in \(location): \(Self.describe(error))")
        }
    }

    public func apply(_ events: [ArchiveEvent]) async throws(ArchiveError) {
        guard !events.isEmpty else { return }
        try await prepare()
        do {
            try await client.withTransaction(logger: logger) { connection in
                for event in events {
                    switch event {
                    case .message(let r):
                        let fromKey = ArchiveRecord.addressKey(r.from), toKey = ArchiveRecord.addressKey(r.to)
                        let body = Data(r.body)
                        try await connection.query("""
                            INSERT INTO sip_archive_message (server, message_id, from_uri, to_uri, from_key, to_key, time,
                                                             call_id, cseq, content_type, body, status)
                            VALUES (\(r.server), \(r.messageID), \(r.from), \(r.to), \(fromKey), \(toKey), \(r.time),
                                    \(r.callID), \(r.cseq), \(r.contentType), \(body), \(r.status))
                            ON CONFLICT (server, message_id) DO NOTHING
                            """, logger: logger)
                    case .status(let server, let id, let status):
                        try await connection.query("""
                            UPDATE sip_archive_message SET status = \(status) WHERE server = \(server) AND message_id = \(id)
                            """, logger: logger)
                    }
                }
            }
        } catch {
            throw ArchiveError(.writeFailed, "cannot write the archive \(location): \(Self.describe(error))")
        }
    }

    public func search(_ query: ArchiveQuery) async throws(ArchiveError) -> [ArchiveRecord] {
        try await prepare()
        do {
            var binds = PostgresBindings()
            var clauses: [String] = []
            func bind(_ value: some PostgresEncodable & Sendable) throws -> String {
                try binds.append(value)
                return "$\(binds.count)"
            }
            if let from = query.from { clauses.append("from_key = \(try bind(from))") }
            if let to = query.to { clauses.append("to_key = \(try bind(to))") }
            if let since = query.since { clauses.append("time >= \(try bind(since))") }
            if let until = query.until { clauses.append("time < \(try bind(until))") }
            for word in query.words {
                // ASCII letters case-insensitively (the escape encoding keeps ASCII as is, so a
                // body that is not UTF-8 cannot fail the query), any word byte for byte.
                let lower = try bind(word.lowercased()), exact = try bind(word)
                clauses.append("(position(\(lower) in lower(encode(body, 'escape'))) > 0 OR position(convert_to(\(exact), 'UTF8') in body) > 0)")
            }
            var sql = """
                SELECT server, message_id, from_uri, to_uri, time, call_id, cseq, content_type, body, status
                FROM sip_archive_message
                """
            if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
            sql += " ORDER BY time, seq"
            if let limit = query.limit { sql += " LIMIT \(limit)" }
            let rows = try await client.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
            var records: [ArchiveRecord] = []
            for try await (server, id, from, to, time, callID, cseq, contentType, body, status)
                in rows.decode((String, String, String, String, Int64, String, Int64, String, Data, Int?).self) {
                records.append(ArchiveRecord(messageID: id, server: server, from: from, to: to, time: time, callID: callID,
                                             cseq: cseq, contentType: contentType, body: [UInt8](body), status: status))
            }
            return records
        } catch {
            throw ArchiveError(.readFailed, "cannot search the archive \(location): \(Self.describe(error))")
        }
    }
}
