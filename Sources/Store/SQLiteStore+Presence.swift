import Foundation
import GRDB

/// Migration "v2-presence": access lists (a default per domain, allow / block entries per
/// user, a generation bumped by every change) and presence soft state (RFC 6665
/// subscriptions, RFC 3903 publications).
let presenceSchemaSQL = """
    CREATE TABLE access_default (
        domain TEXT PRIMARY KEY NOT NULL,
        policy TEXT NOT NULL
    );
    CREATE TABLE access_entry (
        user TEXT NOT NULL,
        watcher TEXT NOT NULL,
        rule TEXT NOT NULL,
        PRIMARY KEY (user, watcher)
    );
    CREATE TABLE presence_meta (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        acl_generation INTEGER NOT NULL
    );
    INSERT INTO presence_meta (id, acl_generation) VALUES (1, 0);
    CREATE TABLE subscription (
        id TEXT PRIMARY KEY NOT NULL,
        event TEXT,
        presentity TEXT,
        watcher TEXT,
        call_id TEXT,
        local_tag TEXT,
        remote_tag TEXT,
        local_uri TEXT,
        remote_uri TEXT,
        remote_target TEXT,
        route_set TEXT,
        local_cseq INTEGER,
        remote_cseq INTEGER,
        expires_at INTEGER,
        flow TEXT,
        state TEXT,
        local_contact TEXT
    ) WITHOUT ROWID;
    CREATE INDEX subscription_expires_at ON subscription(expires_at);
    CREATE TABLE publication (
        etag TEXT PRIMARY KEY NOT NULL,
        presentity TEXT,
        expires_at INTEGER,
        content_type TEXT,
        body BLOB,
        published_at INTEGER
    );
    CREATE INDEX publication_presentity ON publication(presentity);
    CREATE INDEX publication_expires_at ON publication(expires_at);
    """

/// Migration "v4-subscription-rowid": `subscription` as a rowid table with a unique index on
/// `id`. As a WITHOUT ROWID table its rows (a whole dialog, a few hundred bytes each) sat in
/// the order of their random ids, so a batch of new subscriptions touched nearly every leaf
/// page and the WAL took a page per row; now rows are appended and only the small index
/// entries land at random.
let subscriptionRowidSQL = """
    CREATE TABLE subscription_v4 (
        id TEXT NOT NULL,
        event TEXT,
        presentity TEXT,
        watcher TEXT,
        call_id TEXT,
        local_tag TEXT,
        remote_tag TEXT,
        local_uri TEXT,
        remote_uri TEXT,
        remote_target TEXT,
        route_set TEXT,
        local_cseq INTEGER,
        remote_cseq INTEGER,
        expires_at INTEGER,
        flow TEXT,
        state TEXT,
        local_contact TEXT
    );
    INSERT INTO subscription_v4 (id, event, presentity, watcher, call_id, local_tag, remote_tag, local_uri, remote_uri,
        remote_target, route_set, local_cseq, remote_cseq, expires_at, flow, state, local_contact)
    SELECT id, event, presentity, watcher, call_id, local_tag, remote_tag, local_uri, remote_uri,
        remote_target, route_set, local_cseq, remote_cseq, expires_at, flow, state, local_contact FROM subscription;
    DROP TABLE subscription;
    ALTER TABLE subscription_v4 RENAME TO subscription;
    CREATE UNIQUE INDEX subscription_id ON subscription(id);
    CREATE INDEX subscription_expires_at ON subscription(expires_at);
    """

// MARK: - Access lists

extension SQLiteStore: AccessListStore {
    static let bumpACLGenerationSQL = "UPDATE presence_meta SET acl_generation = acl_generation + 1 WHERE id = 1"

    /// A normalized AOR, or `.invalidValue` naming `what` it was meant to be.
    static func normalizedAOR(_ text: String, _ what: String) throws(StoreError) -> String {
        guard let aor = AOR.normalize(text) else {
            throw StoreError(.invalidValue, "\(what) is not an address-of-record user@domain: \(text)")
        }
        return aor
    }

    public func accessDefaults() async throws(StoreError) -> [String: WatchPolicy] {
        try await read("read access defaults") { db in
            var result: [String: WatchPolicy] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT domain, policy FROM access_default") {
                // A word this version does not know (a newer sipctl wrote it) blocks: the safe side.
                result[row["domain"]] = WatchPolicy(rawValue: row["policy"]) ?? .block
            }
            return result
        }
    }

    public func setAccessDefault(domain: String, policy: WatchPolicy) async throws(StoreError) {
        let domain = domain.lowercased()
        guard AOR.normalize("x@" + domain) != nil else {
            throw StoreError(.invalidValue, "not a domain: \(domain)")
        }
        try await write("set access default") { db in
            try db.execute(sql: "INSERT OR REPLACE INTO access_default (domain, policy) VALUES (?, ?)",
                           arguments: [domain, policy.rawValue])
            try db.execute(sql: Self.bumpACLGenerationSQL)
        }
        try await syncIfDue()
    }

    static func accessEntry(_ row: Row) -> AccessEntry {
        AccessEntry(user: row["user"], watcher: row["watcher"], rule: AccessRule(rawValue: row["rule"]) ?? .block)
    }

    public func accessEntries(user: String) async throws(StoreError) -> [AccessEntry] {
        let user = AOR.normalize(user) ?? user
        return try await read("read access entries") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM access_entry WHERE user = ? ORDER BY watcher", arguments: [user])
                .map(Self.accessEntry)
        }
    }

    public func allAccessEntries() async throws(StoreError) -> [AccessEntry] {
        try await read("read access entries") { db in
            try Row.fetchAll(db, sql: "SELECT * FROM access_entry ORDER BY user, watcher").map(Self.accessEntry)
        }
    }

    public func setAccess(user: String, watcher: String, rule: AccessRule) async throws(StoreError) {
        let user = try Self.normalizedAOR(user, "user")
        let watcher = try Self.normalizedAOR(watcher, "watcher")
        try await write("set access entry") { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM user WHERE aor = ?", arguments: [user]) != nil else {
                throw StoreError(.unknownUser, "no user \(user)")
            }
            try db.execute(sql: "INSERT OR REPLACE INTO access_entry (user, watcher, rule) VALUES (?, ?, ?)",
                           arguments: [user, watcher, rule.rawValue])
            try db.execute(sql: Self.bumpACLGenerationSQL)
        }
        try await syncIfDue()
    }

    public func removeAccess(user: String, watcher: String) async throws(StoreError) -> Bool {
        let user = try Self.normalizedAOR(user, "user")
        let watcher = try Self.normalizedAOR(watcher, "watcher")
        let changed = try await write("remove access entry") { db in
            try db.execute(sql: "DELETE FROM access_entry WHERE user = ? AND watcher = ?", arguments: [user, watcher])
            let changed = db.changesCount
            if changed > 0 { try db.execute(sql: Self.bumpACLGenerationSQL) }
            return changed
        }
        try await syncIfDue()
        return changed > 0
    }

    public func accessGeneration() async throws(StoreError) -> Int64 {
        try await read("read access generation") { db in
            try Int64.fetchOne(db, sql: "SELECT acl_generation FROM presence_meta WHERE id = 1") ?? 0
        }
    }
}

// MARK: - Presence state

extension SQLiteStore: PresenceStateStore {
    static func subscriptionRecord(_ row: Row) -> SubscriptionRecord {
        let routeSet: String? = row["route_set"]
        let localCSeq: Int64 = row["local_cseq"] ?? 0
        let remoteCSeq: Int64 = row["remote_cseq"] ?? 0
        return SubscriptionRecord(
            id: row["id"], event: row["event"] ?? "presence", presentity: row["presentity"] ?? "",
            watcher: row["watcher"] ?? "", callID: row["call_id"] ?? "", localTag: row["local_tag"] ?? "",
            remoteTag: row["remote_tag"] ?? "", localURI: row["local_uri"] ?? "", remoteURI: row["remote_uri"] ?? "",
            remoteTarget: row["remote_target"] ?? "",
            routeSet: routeSet.map { $0.split(separator: "\n").map { String($0) } } ?? [],
            localCSeq: UInt32(clamping: localCSeq), remoteCSeq: UInt32(clamping: remoteCSeq),
            expiresAt: row["expires_at"] ?? 0, flow: row["flow"], state: row["state"] ?? "active",
            localContact: row["local_contact"])
    }

    public func loadSubscriptions(now: Int64) async throws(StoreError) -> [SubscriptionRecord] {
        try await read("load subscriptions") { db in
            var result: [SubscriptionRecord] = []
            let rows = try Row.fetchCursor(db, sql: "SELECT * FROM subscription WHERE expires_at > ?", arguments: [now])
            while let row = try rows.next() { result.append(Self.subscriptionRecord(row)) }
            return result
        }
    }

    public func loadPublications(now: Int64) async throws(StoreError) -> [PublicationRecord] {
        try await read("load publications") { db in
            var result: [PublicationRecord] = []
            let rows = try Row.fetchCursor(db, sql: "SELECT * FROM publication WHERE expires_at > ?", arguments: [now])
            while let row = try rows.next() {
                let body: Data = row["body"] ?? Data()
                result.append(PublicationRecord(
                    etag: row["etag"], presentity: row["presentity"] ?? "", expiresAt: row["expires_at"] ?? 0,
                    contentType: row["content_type"] ?? "", body: [UInt8](body), publishedAt: row["published_at"] ?? 0))
            }
            return result
        }
    }

    static let upsertSubscriptionSQL = """
        INSERT OR REPLACE INTO subscription (id, event, presentity, watcher, call_id, local_tag, remote_tag,
            local_uri, remote_uri, remote_target, route_set, local_cseq, remote_cseq, expires_at, flow, state, local_contact)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """
    static let upsertPublicationSQL = """
        INSERT OR REPLACE INTO publication (etag, presentity, expires_at, content_type, body, published_at)
        VALUES (?, ?, ?, ?, ?, ?)
        """

    public func apply(_ changes: [PresenceChange]) async throws(StoreError) {
        try await write("write presence state") { db in try Self.write(changes, db) }
        try await syncIfDue()
    }

    static func write(_ changes: [PresenceChange], _ db: Database) throws {
        for change in changes {
            switch change {
            case .upsertSubscription(let s):
                let routeSet: String? = s.routeSet.isEmpty ? nil : s.routeSet.joined(separator: "\n")
                try db.cachedStatement(sql: upsertSubscriptionSQL).execute(arguments: [
                    s.id, s.event, s.presentity, s.watcher, s.callID, s.localTag, s.remoteTag, s.localURI,
                    s.remoteURI, s.remoteTarget, routeSet, Int64(s.localCSeq), Int64(s.remoteCSeq), s.expiresAt,
                    s.flow, s.state, s.localContact,
                ])
            case .removeSubscription(let id):
                try db.cachedStatement(sql: "DELETE FROM subscription WHERE id = ?").execute(arguments: [id])
            case .upsertPublication(let p):
                try db.cachedStatement(sql: upsertPublicationSQL).execute(arguments: [
                    p.etag, p.presentity, p.expiresAt, p.contentType, Data(p.body), p.publishedAt,
                ])
            case .removePublication(let etag):
                try db.cachedStatement(sql: "DELETE FROM publication WHERE etag = ?").execute(arguments: [etag])
            }
        }
    }

    public func purgeExpiredPresence(now: Int64) async throws(StoreError) -> Int {
        try await write("purge expired presence") { db in
            try db.execute(sql: "DELETE FROM subscription WHERE expires_at <= ?", arguments: [now])
            let subscriptions = db.changesCount
            try db.execute(sql: "DELETE FROM publication WHERE expires_at <= ?", arguments: [now])
            return subscriptions + db.changesCount
        }
    }
}
