import Logging
import SIPCore
import SIPDialog
import SIPTransaction
import SIPTransport
import Store
import Synchronization

/// The presence agent (RFC 3856 §3): the notifier of `presence` and `presence.winfo`
/// subscriptions (RFC 6665, RFC 3857) and the event state compositor of PUBLISH
/// (RFC 3903) for the users homed on this server, with LCS-style access lists.
///
/// Run to completion (ARCHITECTURE.md): a SUBSCRIBE or PUBLISH is decided on the event loop
/// that read it, over in-memory tables under one short lock; the NOTIFYs it causes are built
/// under the lock and started as client transactions after it (no Task per NOTIFY); their
/// answers come back as callbacks. State is written behind to the store by the
/// ``PresenceJournal`` (soft state: see its loss window) and restored at start.
public final class PresenceAgent: Sendable {
    public struct Configuration: Sendable {
        /// RFC 6665 §4.2.1.1: shorter subscriptions are refused with 423 and Min-Expires.
        public var minExpires: Int = 60
        /// Longer ones are shortened to this.
        public var maxExpires: Int = 7200
        /// RFC 3856 §6.4: the presence package's default duration.
        public var defaultExpires: Int = 3600
        /// RFC 3903 §4.1: publication durations.
        public var minPublishExpires: Int = 60
        public var maxPublishExpires: Int = 7200
        public var defaultPublishExpires: Int = 3600
        /// Caps (ARCHITECTURE.md: every table has one; over it the answer is 503).
        public var maxSubscriptions: Int = 1_000_000
        public var maxWatchersPerPresentity: Int = 10_000
        /// Subscriptions one watcher may hold, over all presentities and devices: without it
        /// one user could take every watcher slot of a presentity, or the whole table, from
        /// everybody else. Over it, 503 with Retry-After, as for the other caps.
        public var maxSubscriptionsPerWatcher: Int = 2_000
        /// Subscriptions one watcher may hold to one presentity (one per device, with room):
        /// more are no use to anybody, and each sends its NOTIFYs wherever its Contact says,
        /// so without it one account could aim thousands of NOTIFYs per change at a third
        /// party. Over it, 503 with Retry-After.
        public var maxSubscriptionsPerWatcherAndPresentity: Int = 16
        /// Fetch NOTIFYs for watchers nobody authenticated (with authentication on) in flight
        /// at once: each holds a client transaction until answered, up to 32 s (Timer F).
        /// Past it such a SUBSCRIBE gets 503 with Retry-After, so a flood of them cannot take
        /// the transaction table from everybody.
        public var maxUnverifiedFetchesInFlight: Int = 1_024
        /// The same, per source address (IP) of the SUBSCRIBEs. Such a NOTIFY goes back to
        /// where its SUBSCRIBE came from, not to its Contact, and over UDP it is retransmitted
        /// until answered (eleven sends in 32 s): without this cap a forged source address
        /// would turn one small SUBSCRIBE into a stream of NOTIFYs at somebody else.
        public var maxUnverifiedFetchesPerSource: Int = 8
        public var maxPublicationsPerPresentity: Int = 32
        public var retryAfter: Int = 5
        /// NOTIFYs in flight per subscription over TCP/TLS; over UDP always one. The default
        /// is 1: NOTIFYs are built under the agent's lock but started outside it, from the
        /// loop that read a PUBLISH and from the loop that read a watcher's answer, so with two
        /// in flight a later CSeq could reach the wire first and the watcher would answer 500
        /// (RFC 3261 §12.2.2), ending the subscription. One at a time, the next NOTIFY is
        /// built only after the answer to the last; the backlog keeps a burst in order.
        /// Measured with `compare-presence`: no slower than 8 (a fan-out spreads over
        /// subscriptions, not within one).
        public var maxNotifiesInFlight: Int = 1
        /// NOTIFYs in flight towards one next hop, over all its subscriptions (``HopPacing``):
        /// a fan-out larger than this waits for answers instead of outrunning Timer F.
        public var maxNotifiesInFlightPerHop: Int = 4096
        /// Bytes of NOTIFYs in flight towards one next hop (``HopPacing``): kept under the
        /// transport's outbound buffer cap (`SIPTransportConfiguration.maxBufferedOutboundBytes`,
        /// 1 MiB by default), so a watcher's stack that stops reading for a moment is waited
        /// for, not disconnected as a peer that does not read.
        public var maxNotifyBytesInFlightPerHop: Int = 512 * 1024
        /// States of a presentity kept per watcher while its NOTIFYs wait (window or hop
        /// full): each goes out in turn, so a short burst of changes reaches the watcher
        /// whole and in order. A longer burst coalesces (RFC 6665 §4.2.2): the oldest queued
        /// states give way, the latest always goes. 0: only the latest state is sent.
        public var maxQueuedStatesPerSubscription: Int = 16
        /// Digest authentication is on: a PUBLISH must come from the authenticated presentity
        /// (403 otherwise), and a watcher nobody authenticated (a foreign From, which this
        /// server cannot verify until federation vouches for it) gets one fetch showing the
        /// presentity offline, whether it exists or not.
        public var authenticationRequired: Bool = false
        public init() {}
    }

    /// What the agent needs from the rest of the server, as functions (Presence sits below
    /// Roles): who is homed here, who is signed in, how to name ourselves in a Contact.
    public struct Environment: Sendable {
        /// True for an enabled user homed on this server (`user@domain`).
        public var isLocalUser: @Sendable (String) -> Bool
        /// The contacts the user is registered at (empty: signed out).
        public var registeredContacts: @Sendable (String) -> [String]
        /// The flow (RFC 5626) the user's registration of this contact URI holds, if any.
        /// The URI is given parsed: its text is needed only when the user has registrations.
        public var registeredFlow: @Sendable (_ aor: String, _ contact: URI) -> (UInt64, SIPHostPort)?
        /// Our Contact URI for dialogs whose requests arrive over this transport.
        public var contactURI: @Sendable (SIPTransportKind) -> String
        public var clock: StoreClock

        public init(isLocalUser: @escaping @Sendable (String) -> Bool,
                    registeredContacts: @escaping @Sendable (String) -> [String],
                    registeredFlow: @escaping @Sendable (String, URI) -> (UInt64, SIPHostPort)? = { _, _ in nil },
                    contactURI: @escaping @Sendable (SIPTransportKind) -> String, clock: StoreClock = .system) {
            self.isLocalUser = isLocalUser
            self.registeredContacts = registeredContacts
            self.registeredFlow = registeredFlow
            self.contactURI = contactURI
            self.clock = clock
        }
    }

    /// The agent's tables, touched only under `state`'s lock.
    struct State: ~Copyable {
        /// By our local tag.
        var subscriptions: [String: Subscription] = [:]
        /// Presentity → ids of its presence / winfo subscriptions.
        var watchers: [String: [String]] = [:]
        /// Watcher → how many subscriptions it holds (``Configuration/maxSubscriptionsPerWatcher``).
        var perWatcher: [String: Int] = [:]
        /// How many subscriptions a watcher holds to one presentity and package
        /// (``Configuration/maxSubscriptionsPerWatcherAndPresentity``): counted, not searched.
        /// Keyed by `pairKey`, a third of the memory of the pair itself.
        var perPair: [Int: Int] = [:]
        /// Source IP → unverified fetch NOTIFYs in flight (``Configuration/maxUnverifiedFetchesPerSource``).
        var unverifiedFetchesBySource: [String: Int] = [:]
        var winfoWatchers: [String: [String]] = [:]
        /// Presentity → its publications, oldest first.
        var publications: [String: [Publication]] = [:]
        /// ETag → presentity.
        var etags: [String: String] = [:]
        /// Presentity → what its watchers were last shown.
        var views: [String: PresentityView] = [:]
        /// Expiry wheel: second → subscription ids / etags due then (checked lazily).
        var subscriptionExpiry: [Int64: [String]] = [:]
        var publicationExpiry: [Int64: [String]] = [:]
        var sweptUntil: Int64 = 0
        var publicationSequence: UInt64 = 0
        /// Subscriptions whose NOTIFY could not start (the transaction table was full): the
        /// sweep sends their latest state.
        var deferred: Set<String> = []
        /// NOTIFYs in flight per next hop, and the subscriptions waiting for one.
        var pacing: HopPacing
        var layer: TransactionLayer?
    }

    /// What a presentity's watchers see, composed once per change and shared by every NOTIFY.
    struct PresentityView {
        var registered: Bool
        var body: [UInt8]
    }

    let configuration: Configuration
    let environment: Environment
    let access: AccessLists
    let journal: PresenceJournal
    let logger: Logger
    /// The presentities whose view may have changed (state recomposed, access decision moved)
    /// since the RFC 4662 list server last took them (``takeChanges()``), so that it composes
    /// only the lists holding one. Bounded: past ``maxLoggedChanges`` it says "all".
    let changes = Mutex(PresenceChanges.some([]))
    static let maxLoggedChanges = 100_000
    let state: Mutex<State>
    /// Fetch NOTIFYs to unverified watchers in flight (``Configuration/maxUnverifiedFetchesInFlight``).
    let unverifiedFetches = Atomic<Int>(0)
    /// Our Contact per transport, made once (every subscription shares the string).
    let contactURIs: (udp: String, tcp: String, tls: String)

    public init(configuration: Configuration = Configuration(), environment: Environment, access: AccessLists,
                journal: PresenceJournal, logger: Logger = Logger(label: "sip.presence")) {
        self.configuration = configuration
        self.environment = environment
        self.access = access
        self.journal = journal
        self.logger = logger
        contactURIs = (environment.contactURI(.udp), environment.contactURI(.tcp), environment.contactURI(.tls))
        state = Mutex(State(sweptUntil: environment.clock.now(),
                            pacing: HopPacing(limit: configuration.maxNotifiesInFlightPerHop,
                                              byteLimit: configuration.maxNotifyBytesInFlightPerHop)))
    }

    /// The transaction layer NOTIFYs are sent through (set once the server is assembled).
    public func attach(_ layer: TransactionLayer) {
        state.withLock { $0.layer = layer }
    }

    /// Counts for tests, logs and metrics.
    public var counts: (subscriptions: Int, publications: Int) {
        state.withLock { s in (s.subscriptions.count, s.etags.count) }
    }

    /// Entries in the subscription expiry index (tests: refreshes must not grow it).
    var expiryIndexEntries: Int {
        state.withLock { s in s.subscriptionExpiry.values.reduce(0) { $0 + $1.count } }
    }

    /// The event packages served, for `Allow-Events` (RFC 6665 §8.2.2).
    public static let allowEvents = "presence, presence.winfo"

    /// True when this agent serves `request`: SUBSCRIBE or PUBLISH with an Event of ours,
    /// or any SUBSCRIBE/PUBLISH at all (it answers 489 for a package it does not know).
    public static func handles(_ request: SIPRequest) -> Bool {
        request.method == .subscribe || request.method == .publish
    }

    /// Answers a SUBSCRIBE or PUBLISH addressed to a presentity homed here (or, with a To
    /// tag, inside one of our subscription dialogs). `watcher` is the authenticated AOR
    /// when authentication is on. Runs on the event loop that read the request.
    public func serve(_ transaction: ServerTransaction, authenticatedUser: String?) {
        let request = transaction.request
        guard let eventHeader = request.event else {
            // RFC 6665 §8.2.1 / RFC 3903 §4: Event is mandatory (PUBLISH: 489 too).
            respond(transaction, 489, headers: [("Allow-Events", Self.allowEvents)])
            return
        }
        guard let package = PresencePackage(event: eventHeader),
              request.method == .subscribe || package == .presence else {
            respond(transaction, 489, headers: [("Allow-Events", Self.allowEvents)])
            return
        }
        switch request.method {
        case .subscribe: subscribe(transaction, package: package, event: eventHeader, authenticatedUser: authenticatedUser)
        case .publish: publish(transaction, authenticatedUser: authenticatedUser)
        default: respond(transaction, 405, headers: [("Allow", "SUBSCRIBE, PUBLISH")])
        }
    }

    func respond(_ transaction: ServerTransaction, _ status: Int, reason: String? = nil,
                 headers: [(String, String)] = []) {
        do { try transaction.respond(status, reasonPhrase: reason, headers: headers) } catch {
            logger.debug("response not sent", metadata: ["sip.error": "\(error)"])
        }
    }

    public func contactURI(_ transport: SIPTransportKind) -> String {
        switch transport {
        case .udp: contactURIs.udp
        case .tcp: contactURIs.tcp
        case .tls: contactURIs.tls
        }
    }

    /// A tag of 15 hex digits (60 random bits, RFC 3261 §19.3; short enough to be stored
    /// inline in a Swift string).
    static func makeTag() -> String {
        lowercaseHex(KernelRandom.next(), digits: 15)
    }

    /// `user@domain` of a SIP URI, nil for anything else.
    static func aor(of uri: URI) -> String? {
        guard let sip = uri.sipURI, let user = sip.user else { return nil }
        return AOR.normalize("\(user)@\(sip.host)")
    }
}

extension PresenceAgent {
    /// True when the request's To tag names one of this agent's subscription dialogs.
    public func ownsDialog(of request: SIPRequest) -> Bool {
        guard let tag = request.to?.tag else { return false }
        return state.withLock { $0.subscriptions[tag]?.dialog.matches(request) ?? false }
    }
}
