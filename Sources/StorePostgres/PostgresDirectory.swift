import Logging
import NIOCore
import PostgresNIO
import Store

/// The directory shared by several servers in PostgreSQL (`--directory postgresql://...`,
/// ARCHITECTURE.md "Directory"): users and the presence access lists (defaults and entries),
/// beside the embedded SQLite store, which stays the default and keeps everything else
/// (bindings, presence state, contact lists) local to each server.
///
/// Servers never read it per SIP message: ``UserDirectory`` and ``AccessLists`` load it whole
/// at start and reload when ``directoryGeneration()`` / ``accessGeneration()`` move (every
/// change here bumps them in the same transaction), which a server checks about once a second.
/// The schema is created and migrated by whoever opens it first (``open(url:logger:)``).
public final class PostgresDirectory: SharedDirectoryStore {
    let session: PostgresSession
    let logger: Logger
    /// The URL without its password.
    public var location: String { session.location }

    init(session: PostgresSession, logger: Logger) {
        self.session = session
        self.logger = logger
    }

    /// Connects and migrates the schema; a bad URL is `.invalidValue`, an unreachable
    /// database `.unavailable` with a one-line reason.
    public static func open(url: String, connectTimeout: Duration = .seconds(3),
                            logger: Logger = Logger(label: "sip.directory.postgres")) async throws(StoreError) -> PostgresDirectory {
        let session = try PostgresSession(url: url, role: "directory", connectTimeout: connectTimeout, logger: logger)
        let directory = PostgresDirectory(session: session, logger: logger)
        try await directory.migrate()
        return directory
    }

    /// Closes the connection.
    public func close() async { await session.close() }

    // MARK: - Users

    static let userColumns = "aor, display_name, enabled, home_server, ha1_md5, ha1_sha256"

    static func users(_ rows: PostgresRowSequence) async throws -> [UserRecord] {
        var users: [UserRecord] = []
        for try await (aor, name, enabled, home, md5, sha) in rows.decode(
            (String, String?, Bool, String?, ByteBuffer, ByteBuffer).self) {
            users.append(UserRecord(aor: aor, displayName: name, enabled: enabled, homeServer: home,
                                    ha1MD5: Array(md5.readableBytesView), ha1SHA256: Array(sha.readableBytesView)))
        }
        return users
    }

    public func user(_ aor: String) async throws(StoreError) -> UserRecord? {
        try await session.run("read user") { c in
            try await Self.users(c.query("SELECT \(unescaped: Self.userColumns) FROM sip_user WHERE aor = \(aor)",
                                         logger: self.logger)).first
        }
    }

    public func allUsers() async throws(StoreError) -> [UserRecord] {
        try await session.run("list users") { c in
            try await Self.users(c.query("SELECT \(unescaped: Self.userColumns) FROM sip_user ORDER BY aor",
                                         logger: self.logger))
        }
    }

    static func validate(_ user: UserRecord) throws(StoreError) {
        guard AOR.normalize(user.aor) == user.aor else {
            throw StoreError(.invalidValue, "not a normalized address-of-record user@domain: \(user.aor)")
        }
        guard user.ha1MD5.count == 16, user.ha1SHA256.count == 32 else {
            throw StoreError(.invalidValue, "HA1 lengths must be 16 (MD5) and 32 (SHA-256) bytes")
        }
    }

    public func addUser(_ user: UserRecord) async throws(StoreError) {
        do {
            try await importUsers([user], replace: false)
        } catch where error.code == .duplicateUser {
            throw StoreError(.duplicateUser, "user \(user.aor) exists already")
        }
    }

    public func importUsers(_ users: [UserRecord]) async throws(StoreError) {
        try await importUsers(users, replace: false)
    }

    /// Adds `users` in one transaction (all or nothing), 5,000 to a statement. `replace`: a
    /// user that exists takes the new password and home server.
    public func importUsers(_ users: [UserRecord], replace: Bool) async throws(StoreError) {
        for user in users { try Self.validate(user) }
        let conflict = replace
            ? """
              ON CONFLICT (aor) DO UPDATE SET home_server = excluded.home_server, ha1_md5 = excluded.ha1_md5,
                  ha1_sha256 = excluded.ha1_sha256, display_name = coalesce(excluded.display_name, sip_user.display_name)
              """
            : ""
        let logger = self.logger
        try await session.run("import users") { c in
            try await c.withTransaction(logger: logger) { c in
                var start = 0
                while start < users.count {
                    let chunk = users[start..<min(users.count, start + 5000)]
                    start += chunk.count
                    let aors = chunk.map(\.aor), names = chunk.map { $0.displayName ?? "" }
                    let enabled = chunk.map(\.enabled), homes = chunk.map { $0.homeServer ?? "" }
                    let md5 = chunk.map { ByteBuffer(bytes: $0.ha1MD5) }, sha = chunk.map { ByteBuffer(bytes: $0.ha1SHA256) }
                    try await c.query("""
                        INSERT INTO sip_user (\(unescaped: Self.userColumns))
                        SELECT a, NULLIF(n, ''), e, NULLIF(h, ''), m, s
                        FROM unnest(\(aors)::text[], \(names)::text[], \(enabled)::bool[], \(homes)::text[],
                                    \(md5)::bytea[], \(sha)::bytea[]) AS t(a, n, e, h, m, s)
                        \(unescaped: conflict)
                        """, logger: logger)
                }
                try await Self.bump("users", c, logger)
            }
        }
    }

    static func bump(_ name: String, _ c: PostgresConnection, _ logger: Logger) async throws {
        try await c.query("UPDATE sip_directory_meta SET generation = generation + 1 WHERE name = \(name)", logger: logger)
    }

    /// Runs `sql` (an UPDATE or DELETE ... RETURNING 1) and bumps `generation` in one
    /// transaction when it changed a row; `.unknownUser` when it changed none.
    func change(_ aor: String, _ what: String, _ generation: String, _ query: PostgresQuery,
                also: [PostgresQuery] = []) async throws(StoreError) {
        let logger = self.logger
        let changed = try await session.run(what) { c in
            try await c.withTransaction(logger: logger) { c in
                var count = 0
                for try await _ in try await c.query(query, logger: logger) { count += 1 }
                if count > 0 {
                    for query in also { try await c.query(query, logger: logger) }
                    try await Self.bump(generation, c, logger)
                }
                return count
            }
        }
        if changed == 0 { throw StoreError(.unknownUser, "no user \(aor)") }
    }

    public func setEnabled(_ aor: String, _ enabled: Bool) async throws(StoreError) {
        try await change(aor, "set enabled", "users", "UPDATE sip_user SET enabled = \(enabled) WHERE aor = \(aor) RETURNING 1")
    }

    public func setCredentials(_ aor: String, ha1MD5: [UInt8], ha1SHA256: [UInt8]) async throws(StoreError) {
        guard ha1MD5.count == 16, ha1SHA256.count == 32 else {
            throw StoreError(.invalidValue, "HA1 lengths must be 16 (MD5) and 32 (SHA-256) bytes")
        }
        let md5 = ByteBuffer(bytes: ha1MD5), sha = ByteBuffer(bytes: ha1SHA256)
        try await change(aor, "set password", "users",
                         "UPDATE sip_user SET ha1_md5 = \(md5), ha1_sha256 = \(sha) WHERE aor = \(aor) RETURNING 1")
    }

    /// Removes the user and its access-list entries (each server's bindings of the user stay
    /// local: they are no longer used, and expire).
    public func removeUser(_ aor: String) async throws(StoreError) {
        try await change(aor, "remove user", "users", "DELETE FROM sip_user WHERE aor = \(aor) RETURNING 1",
                         also: ["DELETE FROM sip_access_entry WHERE user_aor = \(aor)",
                               "UPDATE sip_directory_meta SET generation = generation + 1 WHERE name = 'access'"])
    }

    public func directoryGeneration() async throws(StoreError) -> Int64 { try await generation("users") }

    func generation(_ name: String) async throws(StoreError) -> Int64 {
        try await session.run("read \(name) generation") { c in
            for try await value in try await c.query(
                "SELECT generation FROM sip_directory_meta WHERE name = \(name)", logger: self.logger).decode(Int64.self) {
                return value
            }
            return 0
        }
    }
}
