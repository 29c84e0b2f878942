/// Who may see a user's presence when no entry of their access list names the watcher
/// (RFC 3856 §6.6 "authorization"; LCS 2003's allow / block lists and pending authorizations).
public enum WatchPolicy: String, Sendable, Hashable, CaseIterable {
    /// The subscription is accepted (`Subscription-State: active`, RFC 6665 §4.1.3).
    case allow
    /// The subscription waits for the user's decision (`Subscription-State: pending`); the
    /// user learns of it through watcher information (RFC 3857).
    case pending
    /// Politely blocked (RFC 3856 §6.6): the watcher is answered as if allowed and sees the
    /// user offline.
    case block
}

/// One entry of a user's access list: allow or block one watcher.
public enum AccessRule: String, Sendable, Hashable {
    case allow
    case block

    /// The decision this rule makes.
    public var policy: WatchPolicy { self == .allow ? .allow : .block }
}

/// `user` lets `watcher` see their presence, or blocks them. Both are AORs `user@domain`
/// normalized by ``AOR/normalize(_:)``; the watcher may be on any domain, ours or foreign.
public struct AccessEntry: Hashable, Sendable {
    /// The presentity whose list this is (a user of the directory).
    public var user: String
    /// The subscriber the rule is about.
    public var watcher: String
    public var rule: AccessRule

    public init(user: String, watcher: String, rule: AccessRule) {
        self.user = user
        self.watcher = watcher
        self.rule = rule
    }
}

/// One RFC 6665 subscription, that is one dialog (RFC 6665 §4.1.2, RFC 3261 §12) in which
/// this server is the notifier (the UAS of the SUBSCRIBE): what it must keep to send the
/// next NOTIFY after a restart.
public struct SubscriptionRecord: Hashable, Sendable {
    /// Unique key chosen by the caller.
    public var id: String
    /// The event package (RFC 6665 §7.2): `presence` (RFC 3856) or `presence.winfo` (RFC 3857).
    public var event: String
    /// The AOR watched.
    public var presentity: String
    /// The AOR of the subscriber (its From).
    public var watcher: String
    /// The dialog identifier (RFC 3261 §12): Call-ID, our tag (To), theirs (From).
    public var callID: String
    public var localTag: String
    public var remoteTag: String
    /// The To header's name-addr text without tag (our URI in the dialog, RFC 3261 §12.1.1).
    public var localURI: String
    /// The From header's name-addr text without tag (the remote URI).
    public var remoteURI: String
    /// The remote target: the Contact URI of the SUBSCRIBE (RFC 3261 §12.1.1).
    public var remoteTarget: String
    /// The route set, in order (Record-Route of the SUBSCRIBE, RFC 3261 §12.1.1).
    public var routeSet: [String]
    /// The CSeq of our last NOTIFY, and of their last SUBSCRIBE (RFC 3261 §12.2).
    public var localCSeq: UInt32
    public var remoteCSeq: UInt32
    /// Absolute expiry, seconds since the Unix epoch (RFC 6665 §4.2.1.1).
    public var expiresAt: Int64
    /// The transport flow the SUBSCRIBE came over (opaque token), RFC 5626 §5.2.
    public var flow: String?
    /// `Subscription-State` (RFC 6665 §8.2.3): `active`, `pending` or `terminated` (the
    /// presence agent also writes `blocked`: active, politely blocked).
    public var state: String
    /// The notifier's own Contact URI in this dialog (where the subscriber's refreshes go).
    public var localContact: String?

    public init(id: String, event: String = "presence", presentity: String, watcher: String,
                callID: String, localTag: String, remoteTag: String, localURI: String, remoteURI: String,
                remoteTarget: String, routeSet: [String] = [], localCSeq: UInt32 = 0, remoteCSeq: UInt32,
                expiresAt: Int64, flow: String? = nil, state: String = "active", localContact: String? = nil) {
        self.id = id
        self.event = event
        self.presentity = presentity
        self.watcher = watcher
        self.callID = callID
        self.localTag = localTag
        self.remoteTag = remoteTag
        self.localURI = localURI
        self.remoteURI = remoteURI
        self.remoteTarget = remoteTarget
        self.routeSet = routeSet
        self.localCSeq = localCSeq
        self.remoteCSeq = remoteCSeq
        self.expiresAt = expiresAt
        self.flow = flow
        self.state = state
        self.localContact = localContact
    }
}

/// One published event state (RFC 3903 §4.1: the entity tag, its expiry, the body).
public struct PublicationRecord: Hashable, Sendable {
    /// The entity-tag the server assigned (SIP-ETag, RFC 3903 §11.3).
    public var etag: String
    /// The AOR the state is about (the PUBLISH's Request-URI).
    public var presentity: String
    /// Absolute expiry, seconds since the Unix epoch (RFC 3903 §4.1).
    public var expiresAt: Int64
    /// The body's media type, e.g. `application/pidf+xml` (RFC 3863).
    public var contentType: String
    public var body: [UInt8]
    /// When it was last published or refreshed, seconds since the Unix epoch (orders the
    /// composition of several publications, RFC 3903 §4.4).
    public var publishedAt: Int64

    public init(etag: String, presentity: String, expiresAt: Int64, contentType: String = "application/pidf+xml",
                body: [UInt8], publishedAt: Int64) {
        self.etag = etag
        self.presentity = presentity
        self.expiresAt = expiresAt
        self.contentType = contentType
        self.body = body
        self.publishedAt = publishedAt
    }
}

/// One change to the persisted presence state, applied in order within one transaction.
public enum PresenceChange: Hashable, Sendable {
    /// Insert or replace the subscription with this id.
    case upsertSubscription(SubscriptionRecord)
    case removeSubscription(id: String)
    /// Insert or replace the publication with this entity-tag.
    case upsertPublication(PublicationRecord)
    case removePublication(etag: String)
}

/// Access lists (ARCHITECTURE.md "Home server": who may see alice): a default per domain and
/// allow / block entries per user. The hot path never reads it: ``AccessLists`` serves
/// decisions from memory and reloads when ``accessGeneration()`` moves.
public protocol AccessListStore: Sendable {
    /// Domain (lower case) -> its configured default.
    func accessDefaults() async throws(StoreError) -> [String: WatchPolicy]
    /// Sets the default of `domain` (lower-cased).
    func setAccessDefault(domain: String, policy: WatchPolicy) async throws(StoreError)
    /// `user`'s entries, ordered by watcher.
    func accessEntries(user: String) async throws(StoreError) -> [AccessEntry]
    /// Every entry, ordered by user then watcher.
    func allAccessEntries() async throws(StoreError) -> [AccessEntry]
    /// Adds or replaces `user`'s rule for `watcher`. Fails with `.unknownUser` when `user` is
    /// not in the directory, `.invalidValue` when either is not an AOR.
    func setAccess(user: String, watcher: String, rule: AccessRule) async throws(StoreError)
    /// Removes `user`'s rule for `watcher`; false when there was none.
    func removeAccess(user: String, watcher: String) async throws(StoreError) -> Bool
    /// A number that changes whenever a default or an entry changes (any process), so that
    /// a cache can tell when to reload.
    func accessGeneration() async throws(StoreError) -> Int64
}

/// Persistence of presence soft state: subscriptions (RFC 6665) and publications (RFC 3903),
/// so that a restarted server keeps notifying its watchers. Written behind the hot path by
/// ``PresenceJournal``.
public protocol PresenceStateStore: Sendable {
    /// Every subscription not expired at `now` (loaded into memory at start).
    func loadSubscriptions(now: Int64) async throws(StoreError) -> [SubscriptionRecord]
    /// Every publication not expired at `now`.
    func loadPublications(now: Int64) async throws(StoreError) -> [PublicationRecord]
    /// Applies the changes in order, in one transaction: all or nothing.
    func apply(_ changes: [PresenceChange]) async throws(StoreError)
    /// Deletes subscriptions and publications with `expiresAt <= now`; returns how many.
    func purgeExpiredPresence(now: Int64) async throws(StoreError) -> Int
}
