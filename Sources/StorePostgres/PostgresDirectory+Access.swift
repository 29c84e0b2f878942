import Logging
import PostgresNIO
import Store

/// The presence access lists in the shared directory (``AccessListStore``), as the embedded
/// store keeps them: a default per domain, allow / block entries per user, a generation
/// bumped by every change so that each server's ``AccessLists`` reloads within a second.
extension PostgresDirectory {
    static func normalizedAOR(_ text: String, _ what: String) throws(StoreError) -> String {
        guard let aor = AOR.normalize(text) else {
            throw StoreError(.invalidValue, "\(what) is not an address-of-record user@domain: \(text)")
        }
        return aor
    }

    public func accessDefaults() async throws(StoreError) -> [String: WatchPolicy] {
        try await session.run("read access defaults") { c in
            var result: [String: WatchPolicy] = [:]
            for try await (domain, policy) in try await c.query(
                "SELECT domain, policy FROM sip_access_default", logger: self.logger).decode((String, String).self) {
                // A word this version does not know blocks: the safe side.
                result[domain] = WatchPolicy(rawValue: policy) ?? .block
            }
            return result
        }
    }

    public func setAccessDefault(domain: String, policy: WatchPolicy) async throws(StoreError) {
        let domain = domain.lowercased()
        guard AOR.normalize("x@" + domain) != nil else { throw StoreError(.invalidValue, "not a domain: \(domain)") }
        let logger = self.logger
        try await session.run("set access default") { c in
            try await c.withTransaction(logger: logger) { c in
                try await c.query("""
                    INSERT INTO sip_access_default (domain, policy) VALUES (\(domain), \(policy.rawValue))
                    ON CONFLICT (domain) DO UPDATE SET policy = excluded.policy
                    """, logger: logger)
                try await Self.bump("access", c, logger)
            }
        }
    }

    static func entries(_ rows: PostgresRowSequence) async throws -> [AccessEntry] {
        var entries: [AccessEntry] = []
        for try await (user, watcher, rule) in rows.decode((String, String, String).self) {
            entries.append(AccessEntry(user: user, watcher: watcher, rule: AccessRule(rawValue: rule) ?? .block))
        }
        return entries
    }

    public func accessEntries(user: String) async throws(StoreError) -> [AccessEntry] {
        let user = AOR.normalize(user) ?? user
        return try await session.run("read access entries") { c in
            try await Self.entries(c.query("""
                SELECT user_aor, watcher, rule FROM sip_access_entry WHERE user_aor = \(user) ORDER BY watcher
                """, logger: self.logger))
        }
    }

    public func allAccessEntries() async throws(StoreError) -> [AccessEntry] {
        try await session.run("read access entries") { c in
            try await Self.entries(c.query("SELECT user_aor, watcher, rule FROM sip_access_entry ORDER BY user_aor, watcher",
                                           logger: self.logger))
        }
    }

    public func setAccess(user: String, watcher: String, rule: AccessRule) async throws(StoreError) {
        let user = try Self.normalizedAOR(user, "user")
        let watcher = try Self.normalizedAOR(watcher, "watcher")
        // The entry is written only when the user exists (INSERT ... SELECT from sip_user).
        try await change(user, "set access entry", "access", """
            INSERT INTO sip_access_entry (user_aor, watcher, rule)
            SELECT aor, \(watcher), \(rule.rawValue) FROM sip_user WHERE aor = \(user)
            ON CONFLICT (user_aor, watcher) DO UPDATE SET rule = excluded.rule
            RETURNING 1
            """)
    }

    public func removeAccess(user: String, watcher: String) async throws(StoreError) -> Bool {
        let user = try Self.normalizedAOR(user, "user")
        let watcher = try Self.normalizedAOR(watcher, "watcher")
        do {
            try await change(user, "remove access entry", "access",
                             "DELETE FROM sip_access_entry WHERE user_aor = \(user) AND watcher = \(watcher) RETURNING 1")
            return true
        } catch where error.code == .unknownUser {
            return false
        }
    }

    public func accessGeneration() async throws(StoreError) -> Int64 { try await generation("access") }

    // MARK: - Schema

    /// Schema versions, applied in order, each once (never edit a released one).
    static let migrations: [(version: Int, sql: [String])] = [
        (1, [
            """
            CREATE TABLE sip_user (
                aor TEXT PRIMARY KEY,
                display_name TEXT,
                enabled BOOLEAN NOT NULL DEFAULT TRUE,
                home_server TEXT,
                ha1_md5 BYTEA NOT NULL,
                ha1_sha256 BYTEA NOT NULL,
                title TEXT,
                office TEXT,
                phone TEXT,
                company TEXT,
                email TEXT,
                searchable BOOLEAN NOT NULL DEFAULT TRUE
            )
            """,
            "CREATE TABLE sip_access_default (domain TEXT PRIMARY KEY, policy TEXT NOT NULL)",
            """
            CREATE TABLE sip_access_entry (
                user_aor TEXT NOT NULL,
                watcher TEXT NOT NULL,
                rule TEXT NOT NULL,
                PRIMARY KEY (user_aor, watcher)
            )
            """,
            "CREATE TABLE sip_directory_meta (name TEXT PRIMARY KEY, generation BIGINT NOT NULL)",
            "INSERT INTO sip_directory_meta (name, generation) VALUES ('users', 0), ('access', 0)",
        ]),
    ]

    /// Creates or migrates the schema: under an advisory lock, so that servers starting
    /// together migrate it once.
    func migrate() async throws(StoreError) {
        let logger = self.logger
        try await session.run("create the directory schema") { c in
            try await c.withTransaction(logger: logger) { c in
                try await c.query("SELECT pg_advisory_xact_lock(5060011)", logger: logger)
                try await c.query("CREATE TABLE IF NOT EXISTS sip_directory_schema (version INTEGER NOT NULL)",
                                  logger: logger)
                var current = 0
                for try await version in try await c.query(
                    "SELECT coalesce(max(version), 0) FROM sip_directory_schema", logger: logger).decode(Int.self) {
                    current = version
                }
                for migration in Self.migrations where migration.version > current {
                    for sql in migration.sql { try await c.query(PostgresQuery(unsafeSQL: sql), logger: logger) }
                    try await c.query("INSERT INTO sip_directory_schema (version) VALUES (\(migration.version))",
                                      logger: logger)
                }
            }
        }
    }
}
