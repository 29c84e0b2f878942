import Archive
import Foundation
import Logging
import NIOCore
import PostgresNIO
import StorePostgres
import Synchronization

/// The central archive of many servers in PostgreSQL (`--archive postgresql://USER:PASS@HOST:PORT/DB`),
/// through one postgres-nio connection (``PostgresSession``: opened afresh on the first use
/// after a failure, so shipping resumes as soon as the database is back, instead of after the
/// pool's back-off of up to a minute): the schema is created (and migrated) at start, with
/// indexes for the `sipctl archive` queries; a batch is one transaction; a message is unique
/// per (server, message id), so shipping twice stores it once.
public final class PostgresArchive: ArchiveDatabase {
    let session: PostgresSession
    /// `ping()` has its own connection: `/health` never waits behind a shipment.
    let pingSession: PostgresSession
    let logger: Logger
    /// The URL without its password, for logs and errors.
    public var location: String { session.location }
    /// The schema was created by this process (``migrate()`` runs before the first use).
    let prepared = Mutex(false)

    /// - Throws: `unsupported` for a URL that is not `postgres(ql)://USER[:PASS]@HOST[:PORT]/DB`.
    public init(url: String, logger: Logger = Logger(label: "sip.archive.postgres")) throws(ArchiveError) {
        do {
            session = try PostgresSession(url: url, role: "archive", logger: logger)
            pingSession = try PostgresSession(url: url, role: "archive", logger: logger)
        } catch {
            throw ArchiveError(.unsupported, error.reason)
        }
        self.logger = logger
    }

    /// Waits until cancelled, then closes the connection.
    public func run() async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: .seconds(3600)) } catch { break }
        }
        await session.close()
        await pingSession.close()
    }

    /// Runs `body` on the session's connection; a failure is `code` with a one-line reason.
    func run<T: Sendable>(_ what: String, _ code: ArchiveError.Code,
                          _ body: @Sendable (PostgresConnection) async throws -> T) async throws(ArchiveError) -> T {
        do { return try await session.run(what, body) } catch { throw ArchiveError(code, error.reason) }
    }

    public func ping() async throws(ArchiveError) {
        try await prepare()
        do {
            _ = try await pingSession.run("ping the archive") { c in try await c.query("SELECT 1", logger: self.logger) }
        } catch {
            throw ArchiveError(.readFailed, error.reason)
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
        let logger = self.logger
        try await run("cannot create the archive schema", .openFailed) { c in
            try await c.withTransaction(logger: logger) { client in
            // One server at a time (concurrent CREATE ... IF NOT EXISTS can collide).
            try await client.query("SELECT pg_advisory_xact_lock(5060012)", logger: logger)
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
            }
        }
    }

    /// One transaction, two statements whatever the batch size (a round trip per event made a
    /// 1,000-event batch take seconds on a loaded machine): the messages in spool order
    /// (`WITH ORDINALITY`, so `seq` keeps the order), then the statuses, the last one of a
    /// message winning.
    public func apply(_ events: [ArchiveEvent]) async throws(ArchiveError) {
        guard !events.isEmpty else { return }
        try await prepare()
        var messages: [ArchiveRecord] = []
        var statuses: [(server: String, id: String, status: Int)] = []
        for event in events {
            switch event {
            case .message(let r): messages.append(r)
            case .status(let server, let id, let status): statuses.append((server, id, status))
            }
        }
        let logger = self.logger
        let (m, st) = (messages, statuses.map { [$0.server, $0.id, String($0.status)] })
        try await run("cannot write the archive", .writeFailed) { c in
            try await c.withTransaction(logger: logger) { connection in
                if !m.isEmpty {
                    let servers = m.map(\.server), ids = m.map(\.messageID), froms = m.map(\.from), tos = m.map(\.to)
                    let fromKeys = m.map { ArchiveRecord.addressKey($0.from) }, toKeys = m.map { ArchiveRecord.addressKey($0.to) }
                    let times = m.map(\.time), callIDs = m.map(\.callID), cseqs = m.map(\.cseq)
                    let types = m.map(\.contentType), bodies = m.map { ByteBuffer(bytes: $0.body) }
                    let codes = m.map { $0.status ?? -1 }
                    try await connection.query("""
                        INSERT INTO sip_archive_message (server, message_id, from_uri, to_uri, from_key, to_key, time,
                                                         call_id, cseq, content_type, body, status)
                        SELECT sv, id, f, t, fk, tk, tm, ci, cs, ct, b, NULLIF(st, -1)
                        FROM unnest(\(servers)::text[], \(ids)::text[], \(froms)::text[], \(tos)::text[],
                                    \(fromKeys)::text[], \(toKeys)::text[], \(times)::int8[], \(callIDs)::text[],
                                    \(cseqs)::int8[], \(types)::text[], \(bodies)::bytea[], \(codes)::int8[])
                             WITH ORDINALITY AS u(sv, id, f, t, fk, tk, tm, ci, cs, ct, b, st, n)
                        ORDER BY n
                        ON CONFLICT (server, message_id) DO NOTHING
                        """, logger: logger)
                }
                if !st.isEmpty {
                    let servers = st.map { $0[0] }, ids = st.map { $0[1] }, codes = st.map { Int64($0[2]) ?? 0 }
                    try await connection.query("""
                        UPDATE sip_archive_message m SET status = u.st
                        FROM (SELECT DISTINCT ON (sv, id) sv, id, st
                              FROM unnest(\(servers)::text[], \(ids)::text[], \(codes)::int8[])
                                   WITH ORDINALITY AS x(sv, id, st, n)
                              ORDER BY sv, id, n DESC) u
                        WHERE m.server = u.sv AND m.message_id = u.id
                        """, logger: logger)
                }
            }
        }
    }

    public func search(_ query: ArchiveQuery) async throws(ArchiveError) -> [ArchiveRecord] {
        try await prepare()
        let statement: PostgresQuery
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
            statement = PostgresQuery(unsafeSQL: sql, binds: binds)
        } catch {
            throw ArchiveError(.readFailed, "cannot search the archive \(location): \(Self.describe(error))")
        }
        return try await run("cannot search the archive", .readFailed) { c in
            let rows = try await c.query(statement, logger: self.logger)
            var records: [ArchiveRecord] = []
            for try await (server, id, from, to, time, callID, cseq, contentType, body, status)
                in rows.decode((String, String, String, String, Int64, String, Int64, String, Data, Int?).self) {
                records.append(ArchiveRecord(messageID: id, server: server, from: from, to: to, time: time, callID: callID,
                                             cseq: cseq, contentType: contentType, body: [UInt8](body), status: status))
            }
            return records
        }
    }
}
