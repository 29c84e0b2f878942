import Foundation
import GRDB
import Logging
import Synchronization

/// The embedded store: one SQLite file (`DIR/store.sqlite`) in WAL mode through GRDB, on the
/// system SQLite. Implements the directory (``DirectoryStore``), binding persistence
/// (``BindingStore``), access lists (``AccessListStore``) and presence state
/// (``PresenceStateStore``, in `SQLiteStore+Presence.swift`); schema changes go through
/// `DatabaseMigrator`.
///
/// Durability (a REGISTER is answered only after the commit of the batch holding its binding;
/// ``LocationTable`` batches the REGISTERs that arrive while a commit is in flight into the
/// next one, so one commit serves many):
/// - ``Durability/bounded(syncEvery:)`` (the default): commits go to the WAL without an fsync
///   (`synchronous = NORMAL`), and at most every `syncEvery` a checkpoint fsyncs the WAL and the
///   file. An acknowledged binding survives a crash or kill of the process; an OS crash or power
///   loss may lose the bindings acknowledged in the last `syncEvery` (1 s by default). Measured
///   here: ~40k REGISTER/s in process, against ~22k/s with an fsync per commit.
/// - ``Durability/fsync``: every commit is fsynced (`synchronous = FULL`): nothing acknowledged
///   is ever lost, at the cost of one fsync (1-5 ms on this disk) per batch.
public final class SQLiteStore: DirectoryStore, BindingStore {
    /// How hard a commit is pushed to the disk.
    public enum Durability: Sendable, Equatable {
        /// `synchronous = FULL`: a commit survives a power loss or OS crash.
        case fsync
        /// `synchronous = NORMAL` (WAL) plus an fsyncing checkpoint at most every `syncEvery`:
        /// a commit survives a crash of this process at once, a power loss or OS crash after
        /// `syncEvery`.
        case bounded(syncEvery: Duration)

        public static let `default` = Durability.bounded(syncEvery: .seconds(1))
    }

    public struct Configuration: Sendable {
        public var durability: Durability = .default
        /// Open without write access: every change fails with `.unavailable`.
        public var readOnly = false
        /// SQLite page cache per connection, in KiB (kept small: the hot data lives in memory).
        public var cacheKiB = 1024
        /// Caps the file size (`PRAGMA max_page_count`); nil = SQLite's default. A write past
        /// it fails as a full disk does.
        public var maxPageCount: Int?
        /// The users live in another directory (`--directory postgresql://...`): contact lists
        /// are kept for any user, the caller having checked the user in that directory.
        public var usersElsewhere = false
        public init() {}
    }

    /// The file name inside the data directory.
    public static let fileName = "store.sqlite"

    let pool: DatabasePool
    /// For ``Durability/bounded(syncEvery:)``: the interval, and when the WAL was last synced.
    let syncEvery: Duration?
    let lastSync = Mutex(ContinuousClock.now)
    /// The directory the store was opened in.
    public let directory: String
    /// ``Configuration/usersElsewhere``.
    let usersElsewhere: Bool
    let logger: Logger

    /// Opens (creating the directory and file if missing) and migrates the store in `directory`.
    public init(directory: String, configuration: Configuration = Configuration(), logger: Logger = Logger(label: "sip.store")) throws(StoreError) {
        self.directory = directory
        self.logger = logger
        usersElsewhere = configuration.usersElsewhere
        if case .bounded(let interval) = configuration.durability { syncEvery = interval } else { syncEvery = nil }
        if !configuration.readOnly {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw StoreError(.openFailed, "cannot create data directory \(directory): \(error.localizedDescription)")
            }
        }
        var config = GRDB.Configuration()
        config.readonly = configuration.readOnly
        config.busyMode = .timeout(5)
        config.maximumReaderCount = 2
        let cacheKiB = configuration.cacheKiB
        let maxPages = configuration.maxPageCount
        let synchronous = configuration.durability == .fsync ? "FULL" : "NORMAL"
        let readOnly = configuration.readOnly
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA cache_size = -\(cacheKiB)")
            if !readOnly { try db.execute(sql: "PRAGMA synchronous = \(synchronous)") }
            if let maxPages { _ = try Row.fetchOne(db, sql: "PRAGMA max_page_count = \(maxPages)") }
        }
        let path = (directory as NSString).appendingPathComponent(Self.fileName)
        do {
            pool = try DatabasePool(path: path, configuration: config)
            if !configuration.readOnly {
                try Self.migrator.migrate(pool)
                // GRDB sets synchronous = NORMAL when it enables WAL; restore ours on the writer.
                try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = \(synchronous)") }
            }
        } catch {
            throw StoreError(.openFailed, "cannot open store \(path): \(error)")
        }
    }

    /// Schema, one migration per change (never edit a registered migration).
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-directory-and-bindings") { db in
            try db.execute(sql: """
                CREATE TABLE user (
                    aor TEXT PRIMARY KEY NOT NULL,
                    display_name TEXT,
                    enabled INTEGER NOT NULL DEFAULT 1,
                    home_server TEXT,
                    ha1_md5 BLOB NOT NULL,
                    ha1_sha256 BLOB NOT NULL
                ) WITHOUT ROWID;
                CREATE TABLE binding (
                    aor TEXT NOT NULL,
                    contact TEXT NOT NULL,
                    expires_at INTEGER NOT NULL,
                    q INTEGER,
                    call_id TEXT NOT NULL,
                    cseq INTEGER NOT NULL,
                    flow TEXT,
                    instance TEXT,
                    reg_id INTEGER,
                    path TEXT,
                    PRIMARY KEY (aor, contact)
                ) WITHOUT ROWID;
                CREATE INDEX binding_expires_at ON binding(expires_at);
                CREATE TABLE directory_meta (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    generation INTEGER NOT NULL
                );
                INSERT INTO directory_meta (id, generation) VALUES (1, 0);
                """)
        }
        migrator.registerMigration("v2-presence") { db in
            try db.execute(sql: presenceSchemaSQL)
        }
        migrator.registerMigration("v3-contacts") { db in
            try db.execute(sql: contactsSchemaSQL)
        }
        migrator.registerMigration("v4-subscription-rowid") { db in
            try db.execute(sql: subscriptionRowidSQL)
        }
        return migrator
    }

    // MARK: - Errors

    /// Maps SQLite's result codes to the store's: constraint failures are the caller's
    /// (duplicates), everything else means the storage refused the change.
    static func mapped(_ error: any Error, _ what: String) -> StoreError {
        if let error = error as? StoreError { return error }
        if let db = error as? DatabaseError {
            switch db.resultCode {
            case .SQLITE_CONSTRAINT:
                return StoreError(.duplicateUser, "\(what): \(db.message ?? "constraint failed")")
            default:
                return .unavailable("\(what): \(db.resultCode) \(db.message ?? "")")
            }
        }
        return .unavailable("\(what): \(error)")
    }

    func write<T: Sendable>(_ what: String, _ body: @escaping @Sendable (Database) throws -> T) async throws(StoreError) -> T {
        do { return try await pool.write(body) } catch { throw Self.mapped(error, what) }
    }

    func read<T: Sendable>(_ what: String, _ body: @escaping @Sendable (Database) throws -> T) async throws(StoreError) -> T {
        do { return try await pool.read(body) } catch { throw Self.mapped(error, what) }
    }

    /// Checkpoints the WAL and closes the connections; further calls fail.
    public func close() throws(StoreError) {
        do { try pool.close() } catch { throw Self.mapped(error, "close") }
    }

    // MARK: - Directory

    static func userRecord(_ row: Row) -> UserRecord {
        let md5: Data = row["ha1_md5"]
        let sha: Data = row["ha1_sha256"]
        return UserRecord(aor: row["aor"], displayName: row["display_name"], enabled: row["enabled"],
                          homeServer: row["home_server"], ha1MD5: [UInt8](md5), ha1SHA256: [UInt8](sha))
    }

    static func validate(_ user: UserRecord) throws(StoreError) {
        guard AOR.normalize(user.aor) == user.aor else {
            throw StoreError(.invalidValue, "not a normalized address-of-record user@domain: \(user.aor)")
        }
        guard user.ha1MD5.count == 16, user.ha1SHA256.count == 32 else {
            throw StoreError(.invalidValue, "HA1 lengths must be 16 (MD5) and 32 (SHA-256) bytes")
        }
    }

    static let insertUserSQL = """
        INSERT INTO user (aor, display_name, enabled, home_server, ha1_md5, ha1_sha256) VALUES (?, ?, ?, ?, ?, ?)
        """
    static let bumpGenerationSQL = "UPDATE directory_meta SET generation = generation + 1 WHERE id = 1"

    static func insert(_ user: UserRecord, _ db: Database) throws {
        try db.cachedStatement(sql: insertUserSQL).execute(arguments: [
            user.aor, user.displayName, user.enabled, user.homeServer, Data(user.ha1MD5), Data(user.ha1SHA256),
        ])
    }

    public func user(_ aor: String) async throws(StoreError) -> UserRecord? {
        try await read("read user") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM user WHERE aor = ?", arguments: [aor]).map(Self.userRecord)
        }
    }

    public func allUsers() async throws(StoreError) -> [UserRecord] {
        try await read("list users") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM user ORDER BY aor").map(Self.userRecord)
        }
    }

    public func addUser(_ user: UserRecord) async throws(StoreError) {
        try Self.validate(user)
        do {
            try await write("add user") { db in
                try Self.insert(user, db)
                try db.execute(sql: Self.bumpGenerationSQL)
            }
        } catch where error.code == .duplicateUser {
            throw StoreError(.duplicateUser, "user \(user.aor) exists already")
        }
    }

    static let upsertUserSQL = """
        INSERT INTO user (aor, display_name, enabled, home_server, ha1_md5, ha1_sha256) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT(aor) DO UPDATE SET home_server = excluded.home_server, ha1_md5 = excluded.ha1_md5,
            ha1_sha256 = excluded.ha1_sha256, display_name = coalesce(excluded.display_name, user.display_name)
        """

    public func importUsers(_ users: [UserRecord]) async throws(StoreError) {
        try await importUsers(users, replace: false)
    }

    /// Adds `users` in one transaction. `replace`: a user that exists takes the new password
    /// and home server (one directory file imported into every server of a mesh).
    public func importUsers(_ users: [UserRecord], replace: Bool) async throws(StoreError) {
        for user in users { try Self.validate(user) }
        // In key order, the B-tree is appended to rather than split all over.
        let sorted = users.sorted { $0.aor.utf8.lexicographicallyPrecedes($1.aor.utf8) }
        try await write("import users") { db in
            for user in sorted {
                if replace {
                    try db.cachedStatement(sql: Self.upsertUserSQL).execute(arguments: [
                        user.aor, user.displayName, user.enabled, user.homeServer, Data(user.ha1MD5), Data(user.ha1SHA256),
                    ])
                    continue
                }
                do { try Self.insert(user, db) } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                    throw StoreError(.duplicateUser, "user \(user.aor) exists already")
                }
            }
            try db.execute(sql: Self.bumpGenerationSQL)
        }
    }

    func updateUser(_ aor: String, _ what: String, sql: String, _ arguments: StatementArguments) async throws(StoreError) {
        let changed = try await write(what) { db in
            try db.execute(sql: sql, arguments: arguments)
            let changed = db.changesCount
            if changed > 0 { try db.execute(sql: Self.bumpGenerationSQL) }
            return changed
        }
        if changed == 0 { throw StoreError(.unknownUser, "no user \(aor)") }
    }

    public func setEnabled(_ aor: String, _ enabled: Bool) async throws(StoreError) {
        try await updateUser(aor, "set enabled", sql: "UPDATE user SET enabled = ? WHERE aor = ?", [enabled, aor])
    }

    public func setCredentials(_ aor: String, ha1MD5: [UInt8], ha1SHA256: [UInt8]) async throws(StoreError) {
        guard ha1MD5.count == 16, ha1SHA256.count == 32 else {
            throw StoreError(.invalidValue, "HA1 lengths must be 16 (MD5) and 32 (SHA-256) bytes")
        }
        try await updateUser(aor, "set password", sql: "UPDATE user SET ha1_md5 = ?, ha1_sha256 = ? WHERE aor = ?",
                             [Data(ha1MD5), Data(ha1SHA256), aor])
    }

    public func removeUser(_ aor: String) async throws(StoreError) {
        let changed = try await write("remove user") { db in
            try db.execute(sql: "DELETE FROM user WHERE aor = ?", arguments: [aor])
            let changed = db.changesCount
            if changed > 0 {
                try db.execute(sql: "DELETE FROM binding WHERE aor = ?", arguments: [aor])
                for table in ["contact_list", "contact_group", "contact"] {
                    try db.execute(sql: "DELETE FROM \(table) WHERE user = ?", arguments: [aor])
                }
                try db.execute(sql: Self.bumpGenerationSQL)
            }
            return changed
        }
        if changed == 0 { throw StoreError(.unknownUser, "no user \(aor)") }
    }

    public func directoryGeneration() async throws(StoreError) -> Int64 {
        try await read("read directory generation") { db in
            try Int64.fetchOne(db, sql: "SELECT generation FROM directory_meta WHERE id = 1") ?? 0
        }
    }

    // MARK: - Bindings

    public func loadBindings(now: Int64) async throws(StoreError) -> [Binding] {
        try await read("load bindings") { db in
            var result: [Binding] = []
            let rows = try Row.fetchCursor(db, sql: "SELECT * FROM binding WHERE expires_at > ?", arguments: [now])
            while let row = try rows.next() {
                let path: String? = row["path"]
                let q: Int? = row["q"]
                let regID: Int64? = row["reg_id"]
                let cseq: Int64 = row["cseq"]
                result.append(Binding(
                    aor: row["aor"], contact: row["contact"], expiresAt: row["expires_at"],
                    qThousandths: q.map { UInt16(clamping: $0) }, callID: row["call_id"],
                    cseq: UInt32(clamping: cseq), flow: row["flow"], instance: row["instance"],
                    regID: regID.map { UInt32(clamping: $0) },
                    path: path.map { $0.split(separator: "\n").map { String($0) } } ?? []))
            }
            return result
        }
    }

    static let upsertBindingSQL = """
        INSERT OR REPLACE INTO binding (aor, contact, expires_at, q, call_id, cseq, flow, instance, reg_id, path)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """

    public func apply(_ changes: [BindingChange]) async throws(StoreError) {
        try await write("write bindings") { db in try Self.write(changes, db) }
        try await syncIfDue()
    }

    /// With bounded durability: a passive checkpoint (it fsyncs the WAL, then the file) when
    /// the last one is older than the interval.
    func syncIfDue() async throws(StoreError) {
        guard let syncEvery else { return }
        let now = ContinuousClock.now
        let due = lastSync.withLock { last in
            guard now - last >= syncEvery else { return false }
            last = now
            return true
        }
        guard due else { return }
        do {
            try await pool.writeWithoutTransaction { db in _ = try db.checkpoint(.passive) }
        } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED {
            // Another process (the server, `sipctl`) holds the database: the commit itself is
            // done; the next commit tries the checkpoint again.
            lastSync.withLock { $0 = now - syncEvery }
        } catch {
            throw Self.mapped(error, "sync")
        }
    }

    static func write(_ changes: [BindingChange], _ db: Database) throws {
        for change in changes {
            switch change {
            case .upsert(let b):
                let q: Int? = b.qThousandths.map { Int($0) }
                let regID: Int64? = b.regID.map { Int64($0) }
                let path: String? = b.path.isEmpty ? nil : b.path.joined(separator: "\n")
                try db.cachedStatement(sql: upsertBindingSQL).execute(arguments: [
                    b.aor, b.contact, b.expiresAt, q, b.callID, Int64(b.cseq), b.flow, b.instance, regID, path,
                ])
            case .remove(let aor, let contact):
                try db.cachedStatement(sql: "DELETE FROM binding WHERE aor = ? AND contact = ?")
                    .execute(arguments: [aor, contact])
            }
        }
    }

    public func purgeExpired(now: Int64) async throws(StoreError) -> Int {
        try await write("purge expired bindings") { db in
            try db.execute(sql: "DELETE FROM binding WHERE expires_at <= ?", arguments: [now])
            return db.changesCount
        }
    }
}
