import Logging
import SIPCore
import SIPDialog
import SIPTransaction
import SIPTransport
import Store
import Synchronization

/// LCS 2003's roaming services for the users homed here, as Pidgin's SIMPLE protocol and
/// pidgin-sipe speak them: a user's own subscriptions to `vnd-microsoft-roaming-contacts`
/// (the contact list, piggybacked in the 200 and then sent by NOTIFY on every change),
/// `vnd-microsoft-roaming-ACL` (the access list), `presence.wpending` (watchers waiting for
/// consent) and `vnd-microsoft-provisioning` (answered, `Expires: 0`), and `SERVICE` requests
/// carrying SOAP operations ([MS-SIP] §2.2.4, [MS-PRES] §2.2.1; ``SOAPOperation``).
///
/// Subscriptions are persisted through the presence journal and restored after a restart
/// (``restore(from:)``): a device's refresh is then accepted in its dialog. A SERVICE is answered after its change is
/// committed; the change is then NOTIFYed to the user's other devices, one NOTIFY in flight
/// per subscription (later changes coalesce into one NOTIFY with the latest list, RFC 6665
/// §4.2.2).
public final class RoamingAgent: Sendable {
    public struct Configuration: Sendable {
        public var minExpires = 60
        public var maxExpires = 7200
        public var defaultExpires = 3600
        /// Caps: subscriptions in all, and per user (several devices, four packages each).
        public var maxSubscriptions = 100_000
        public var maxSubscriptionsPerUser = 32
        /// A SERVICE or SUBSCRIBE needs an authenticated user (digest on).
        public var authenticationRequired = false
        public var retryAfter = 5
        /// Back-end subscriptions to list members homed elsewhere: per list (100), in all
        /// (10,000), and what they ask for (Expires 3600, refreshed at three quarters).
        public var backEnds = ListBackEndLimits()
        public init() {}
    }

    /// What the agent needs from the server around it.
    public struct Environment: Sendable {
        /// True for an enabled user homed on this server.
        public var isLocalUser: @Sendable (String) -> Bool
        /// Our Contact URI for dialogs over this transport.
        public var contactURI: @Sendable (SIPTransportKind) -> String
        /// The watchers of the user waiting for consent (``PresenceAgent/pendingWatchers(of:)``).
        public var pendingWatchers: @Sendable (String) -> [String]
        /// Told the users whose access lists a `setACE` changed (the presence agent re-decides
        /// their watchers at once).
        public var accessChanged: @Sendable (Set<String>) -> Void
        /// A list member's state as `watcher` may see it (``PresenceAgent/resourceState(of:watcher:)``).
        public var resourceState: @Sendable (_ member: String, _ watcher: String) -> ResourceState
        /// Publishes a `setPresence` state as the user's device's presence
        /// (``PresenceAgent/publishServiceState(_:presentity:device:expires:)``); false: 503.
        public var publishState: @Sendable (_ document: PIDFDocument, _ user: String, _ device: String, _ expires: Int) -> Bool
        /// ``PresenceAgent/takeChanges()``: the list subscriptions' once-a-second check
        /// composes only the lists holding a presentity that may have changed (every list
        /// every 30 s, for what it does not log). nil: every list every second.
        public var takeChanges: (@Sendable () -> PresenceChanges)?
        public var clock: StoreClock

        public init(isLocalUser: @escaping @Sendable (String) -> Bool,
                    contactURI: @escaping @Sendable (SIPTransportKind) -> String,
                    pendingWatchers: @escaping @Sendable (String) -> [String] = { _ in [] },
                    accessChanged: @escaping @Sendable (Set<String>) -> Void = { _ in },
                    resourceState: @escaping @Sendable (String, String) -> ResourceState = { _, _ in .unknown },
                    publishState: @escaping @Sendable (PIDFDocument, String, String, Int) -> Bool = { _, _, _, _ in false },
                    takeChanges: (@Sendable () -> PresenceChanges)? = nil,
                    clock: StoreClock = .system) {
            self.publishState = publishState
            self.takeChanges = takeChanges
            self.isLocalUser = isLocalUser
            self.contactURI = contactURI
            self.pendingWatchers = pendingWatchers
            self.accessChanged = accessChanged
            self.resourceState = resourceState
            self.clock = clock
        }
    }

    struct State: ~Copyable {
        /// When every list was last composed (``RoamingAgent/fullListCheckEvery``).
        var lastFullListCheck: Int64 = 0
        var subscriptions: [String: RoamingSubscription] = [:]
        /// User → ids of their subscriptions.
        var byUser: [String: [String]] = [:]
        var layer: TransactionLayer?
    }

    let configuration: Configuration
    let environment: Environment
    let contacts: ContactLists
    let access: AccessLists
    let store: any AccessListStore & ContactListStore
    let logger: Logger
    /// Where subscriptions are persisted (nil: memory only).
    let journal: PresenceJournal?
    let state = Mutex(State())
    /// RFC 4662 back-end subscriptions to list members homed elsewhere.
    let backEnds: ListBackEnds

    public init(configuration: Configuration = Configuration(), environment: Environment, contacts: ContactLists,
                access: AccessLists, store: any AccessListStore & ContactListStore, journal: PresenceJournal? = nil,
                logger: Logger = Logger(label: "sip.roaming")) {
        self.journal = journal
        self.configuration = configuration
        self.environment = environment
        self.contacts = contacts
        self.access = access
        self.store = store
        self.logger = logger
        backEnds = ListBackEnds(limits: configuration.backEnds, contactURI: environment.contactURI,
                                clock: environment.clock, logger: logger)
    }

    /// The transaction layer NOTIFYs (and back-end SUBSCRIBEs) go through.
    public func attach(_ layer: TransactionLayer) {
        state.withLock { $0.layer = layer }
        backEnds.attach(layer)
    }

    /// The event packages served, in the order the REGISTER 200's `Allow-Events` names them
    /// (comma-separated without spaces: pidgin-sipe splits on "," alone).
    public static let allowEvents = "presence,presence.wpending,vnd-microsoft-roaming-contacts,vnd-microsoft-roaming-ACL,vnd-microsoft-provisioning"

    /// True for the requests this agent answers: SERVICE, and SUBSCRIBE to one of its packages.
    public static func handles(_ request: SIPRequest) -> Bool {
        if case .extension(let name) = request.method, name == "SERVICE" { return true }
        guard request.method == .subscribe, let event = request.event else { return false }
        return RoamingPackage(rawValue: event.package) != nil
    }

    /// True when the request's To tag names one of this agent's dialogs.
    public func ownsDialog(of request: SIPRequest) -> Bool {
        guard let tag = request.to?.tag else { return false }
        return state.withLock { $0.subscriptions[tag]?.dialog.matches(request) ?? false }
    }

    /// Subscriptions held (tests, logs).
    public var subscriptionCount: Int { state.withLock { $0.subscriptions.count } }

    /// Subscriptions held by kind: LCS 2003 self-subscriptions (`roaming`) and RFC 4662
    /// resource lists (`lists`); one pass under the lock, for a metrics scrape.
    public var subscriptionCounts: (roaming: Int, lists: Int) {
        state.withLock { s in
            let lists = s.subscriptions.values.reduce(0) { $0 + ($1.isList ? 1 : 0) }
            return (s.subscriptions.count - lists, lists)
        }
    }

    /// Answers a SERVICE or a roaming SUBSCRIBE. `authenticatedUser` is the digest user, nil
    /// when authentication is off (then the From AOR is the user).
    public func serve(_ transaction: ServerTransaction, authenticatedUser: String?) {
        let request = transaction.request
        // A NOTIFY of a back-end subscription: accepted only inside a dialog we created.
        if request.method == .notify {
            backEnds.receiveNotify(transaction)
            return
        }
        // A refresh or unsubscribe inside one of our dialogs needs no new authentication: the
        // dialog's identifiers (our 60-bit random tag among them) went only to the subscriber.
        if request.method == .subscribe, let toTag = request.to?.tag {
            refresh(transaction, toTag: toTag)
            return
        }
        if configuration.authenticationRequired && authenticatedUser == nil {
            respond(transaction, 403, reason: "Authentication Required")
            return
        }
        guard let user = authenticatedUser ?? request.from.flatMap({ Self.aor(of: $0.uri) }) else {
            respond(transaction, 400, reason: "Bad From")
            return
        }
        guard environment.isLocalUser(user) else {
            respond(transaction, 403, reason: "User Not Homed Here")
            return
        }
        if request.method == .subscribe {
            subscribe(transaction, user: user)
        } else {
            service(transaction, user: user)
        }
    }

    func respond(_ transaction: ServerTransaction, _ status: Int, reason: String? = nil,
                 headers: [(String, String)] = [], body: [UInt8] = []) {
        do { try transaction.respond(status, reasonPhrase: reason, headers: headers, body: body) } catch {
            logger.debug("response not sent", metadata: ["sip.error": "\(error)"])
        }
    }

    static func aor(of uri: URI) -> String? {
        guard let sip = uri.sipURI, let user = sip.user else { return nil }
        return AOR.normalize("\(user)@\(sip.host)")
    }

    /// Runs until cancelled: once a second, drops expired subscriptions and picks up list
    /// changes made by another process (`sipctl contacts`), NOTIFYing the users' devices.
    public func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { [self] in
                await contacts.runRefresher(every: .seconds(1)) { [self] users in
                    for user in users { listChanged(user, package: .contacts) }
                }
            }
            group.addTask { [self] in
                while !Task.isCancelled {
                    do { try await Task.sleep(for: .seconds(1)) } catch { return }
                    sweep(now: environment.clock.now())
                }
            }
        }
    }

    func sweep(now: Int64) {
        var sends: [(String, SIPRequest, SIPDestination)] = []
        let owners = state.withLock { s in
            for (id, sub) in s.subscriptions where sub.expiresAt <= now { remove(id, &s) }
            pollLists(&s, &sends, now: now)
            return Self.listOwners(s)
        }
        send(sends)
        syncBackEnds(listOwners: owners)
        backEnds.sweep(now: now)
    }

    func remove(_ id: String, _ s: inout State) {
        guard let sub = s.subscriptions.removeValue(forKey: id) else { return }
        forget(id)
        s.byUser[sub.user]?.removeAll { $0 == id }
        if s.byUser[sub.user]?.isEmpty == true { s.byUser[sub.user] = nil }
    }
}

/// The LCS 2003 event packages the roaming agent serves.
public enum RoamingPackage: String, Sendable, CaseIterable {
    case contacts = "vnd-microsoft-roaming-contacts"
    case acl = "vnd-microsoft-roaming-ACL"
    case wpending = "presence.wpending"
    case provisioning = "vnd-microsoft-provisioning"
}
