import Logging
import SIPCore
import SIPDialog
import SIPTransaction
import SIPTransport
import Store
import Synchronization

/// How the resource list server reaches list members homed on other servers: supplied by the
/// server assembly (Roles), which routes a back-end SUBSCRIBE through its routing policy as
/// if the list's owner had sent it through this server (home routing to a peer over mutual
/// TLS with the owner in `P-Asserted-Identity`, a federation partner's edge, or RFC 3263 for
/// a foreign domain).
public struct ListBackEndRouting: Sendable {
    /// True when `member` (`user@domain`) is homed elsewhere: a foreign domain, or a user of
    /// ours the directory homes on another server.
    public var isRemote: @Sendable (_ member: String) -> Bool
    /// Routes the out-of-dialog `request` from `owner`; `done` gets the request as it is to be
    /// sent (this server's Via on top) and where it goes, or nil when nothing routes it.
    public var route: @Sendable (_ request: SIPRequest, _ owner: String,
                                 _ done: @escaping @Sendable ((SIPRequest, SIPDestination)?) -> Void) -> Void

    public init(isRemote: @escaping @Sendable (String) -> Bool,
                route: @escaping @Sendable (SIPRequest, String, @escaping @Sendable ((SIPRequest, SIPDestination)?) -> Void) -> Void) {
        self.isRemote = isRemote
        self.route = route
    }
}

/// The bounds of the list server's back-end subscriptions (``RoamingAgent/Configuration/backEnds``).
public struct ListBackEndLimits: Sendable {
    /// Back-end subscriptions per list (per owner).
    public var perList = 100
    /// Back-end subscriptions in all.
    public var total = 10_000
    /// The Expires asked for; refreshed at three quarters of what the notifier granted.
    public var expires = 3600
    /// After a failure or a `terminated` NOTIFY, the next attempt waits this long.
    public var retryAfter: Int64 = 30
    /// An ended subscription's final NOTIFY is still answered 200 this long.
    public var endingGrace: Int64 = 32
    /// The largest PIDF document taken from a back-end NOTIFY.
    public var maxDocument = 65_536
    public init() {}
}

/// RFC 4662 §4.4 back-end subscriptions of the resource list server to list members homed on
/// other servers: one `Event: presence` SUBSCRIBE per (list owner, member), shared by the
/// owner's list subscriptions (several devices), routed like any request this server proxies
/// (``ListBackEndRouting``), kept as a SIPDialog UAC dialog, refreshed before it expires and
/// ended (`Expires: 0`) when the owner's last list subscription ends or the member leaves the
/// list. The NOTIFYs it receives set the member's state, which the list's once-a-second
/// throttled check (RFC 4662 §5) then sends on as a partial NOTIFY.
///
/// A NOTIFY is accepted only inside a dialog this table created: its To tag one of our random
/// From tags, its Call-ID ours, and, once the notifier's tag is known, its From tag that one
/// (RFC 3261 §12.2.2). Anything else is answered 481 and changes nothing.
///
/// Bounds: ``Limits``; members over them are listed without an instance.
final class ListBackEnds: Sendable {
    typealias Limits = ListBackEndLimits

    final class Entry {
        let owner: String
        let member: String
        let tag: String
        let callID: String
        var dialog: Dialog?
        var destination: SIPDestination?
        var state: ResourceState = .unknown
        /// A SUBSCRIBE of ours is in flight (the first, a refresh or the unsubscribe).
        var inFlight = false
        var ending = false
        /// When to refresh (established), retry (failed) or forget (ending).
        var dueAt: Int64 = 0

        init(owner: String, member: String, tag: String, callID: String) {
            self.owner = owner
            self.member = member
            self.tag = tag
            self.callID = callID
        }
    }

    struct State {
        var byTag: [String: Entry] = [:]
        /// Owner → member → tag, for the live (not ending) entries.
        var byOwner: [String: [String: String]] = [:]
        var live = 0
        /// Owner → the list version (`deltaNum`) last reconciled.
        var versions: [String: Int64] = [:]
        var routing: ListBackEndRouting?
        var layer: TransactionLayer?
    }

    let limits: Limits
    let contactURI: @Sendable (SIPTransportKind) -> String
    let clock: StoreClock
    let logger: Logger
    let state = Mutex(State())
    /// Owners whose members' states here may have changed since ``takeChangedOwners()``.
    let changedOwners = Mutex(Set<String>())

    init(limits: Limits = Limits(), contactURI: @escaping @Sendable (SIPTransportKind) -> String, clock: StoreClock,
         logger: Logger) {
        self.limits = limits
        self.contactURI = contactURI
        self.clock = clock
        self.logger = logger
    }

    func attach(_ routing: ListBackEndRouting) { state.withLock { $0.routing = routing } }
    func attach(_ layer: TransactionLayer) { state.withLock { $0.layer = layer } }

    /// True when back-end subscriptions can be made (a routing was attached).
    var isEnabled: Bool { state.withLock { $0.routing != nil } }

    func isRemote(_ member: String) -> Bool { state.withLock { $0.routing }?.isRemote(member) ?? false }

    /// Back-end subscriptions held (ending ones included).
    var count: Int { state.withLock { $0.byTag.count } }

    /// The state `owner`'s back-end subscription has of `member`; unknown without one.
    func resourceState(owner: String, member: String) -> ResourceState {
        state.withLock { s in s.byOwner[owner]?[member].flatMap { s.byTag[$0]?.state } ?? .unknown }
    }

    /// The established back-end dialogs.
    var dialogIDs: [DialogID] { state.withLock { s in s.byTag.values.compactMap { $0.dialog?.id } } }

    /// True when `request` is a NOTIFY inside one of our back-end dialogs (or the early NOTIFY
    /// of one whose 200 has not come yet): the policy hands it to the list server.
    func owns(_ request: SIPRequest) -> Bool {
        guard request.method == .notify, let tag = request.to?.tag ?? nil, let callID = request.callID else { return false }
        return state.withLock { s in
            guard let entry = s.byTag[tag], entry.callID == callID else { return false }
            return entry.dialog.map { $0.id.remoteTag == (request.from?.tag ?? nil) } ?? true
        }
    }

    // MARK: - Membership

    /// What a SUBSCRIBE of one entry needs outside the lock.
    struct Target: Sendable {
        let tag: String
        let owner: String
        let member: String
        let callID: String
    }

    /// Makes `owner`'s back-end subscriptions those to `members` (remote members of the
    /// list, in list order): new ones are started, those to members no longer wanted are
    /// ended. An empty `members` ends them all (the owner's last list subscription ended).
    func reconcile(owner: String, members: [String]) {
        let now = clock.now()
        let (start, end): ([Target], [String]) = state.withLock { s in
            guard s.routing != nil else { return ([], []) }
            var start: [Target] = []
            var end: [String] = []
            let have = s.byOwner[owner] ?? [:]
            let wanted = Array(members.prefix(limits.perList))
            let wantedSet = Set(wanted)
            for (member, tag) in have where !wantedSet.contains(member) {
                s.byOwner[owner]?[member] = nil
                s.live -= 1
                guard let entry = s.byTag[tag] else { continue }
                entry.ending = true
                entry.dueAt = now + limits.endingGrace
                if entry.dialog == nil, !entry.inFlight {
                    s.byTag[tag] = nil
                } else if !entry.inFlight {
                    end.append(tag)
                }
            }
            if s.byOwner[owner]?.isEmpty == true { s.byOwner[owner] = nil }
            for member in wanted where have[member] == nil {
                guard s.live < limits.total else {
                    logger.notice("list back-end subscriptions at their cap", metadata: ["rls.cap": "\(limits.total)"])
                    break
                }
                let target = Target(tag: PresenceAgent.makeTag(), owner: owner, member: member,
                                    callID: PresenceAgent.makeTag() + "-rls")
                let entry = Entry(owner: owner, member: member, tag: target.tag, callID: target.callID)
                entry.inFlight = true
                s.byTag[target.tag] = entry
                s.byOwner[owner, default: [:]][member] = target.tag
                s.live += 1
                start.append(target)
            }
            return (start, end)
        }
        for target in start { subscribe(target) }
        for tag in end { sendInDialog(tag, expires: 0) }
    }

    /// The owners whose back-end subscriptions were reconciled with some list version.
    var owners: Set<String> { state.withLock { Set($0.versions.keys) } }

    /// True (and remembered) when `owner`'s list at `version` was not reconciled yet; nil
    /// `version` forgets the owner.
    func takeVersion(owner: String, _ version: Int64?) -> Bool {
        state.withLock { s in
            guard let version else { return s.versions.removeValue(forKey: owner) != nil }
            guard s.versions[owner] != version else { return false }
            s.versions[owner] = version
            return true
        }
    }

    /// Once a second: refreshes what is due, retries what failed, forgets ended ones.
    func sweep(now: Int64) {
        let (retry, refresh): ([Target], [String]) = state.withLock { s in
            var retry: [Target] = []
            var refresh: [String] = []
            for (tag, entry) in s.byTag where !entry.inFlight && entry.dueAt <= now {
                if entry.ending {
                    s.byTag[tag] = nil
                } else if entry.dialog == nil {
                    entry.inFlight = true
                    retry.append(Target(tag: tag, owner: entry.owner, member: entry.member, callID: entry.callID))
                } else {
                    entry.inFlight = true
                    refresh.append(tag)
                }
            }
            return (retry, refresh)
        }
        for target in retry { subscribe(target) }
        for tag in refresh { sendInDialog(tag, expires: limits.expires) }
    }

    // MARK: - Sending

    /// The first SUBSCRIBE of an entry (again after a failure): a new dialog.
    private func subscribe(_ target: Target) {
        guard let routing = state.withLock({ $0.routing }), let uri = URI("sip:\(target.member)") else {
            return failed(target.tag, status: 400)
        }
        var headers = SIPHeaders()
        headers.append("Max-Forwards", "70")
        headers.append("From", "<sip:\(target.owner)>;tag=\(target.tag)")
        headers.append("To", "<sip:\(target.member)>")
        headers.append("Call-ID", target.callID)
        headers.append("CSeq", "1 SUBSCRIBE")
        headers.append("Event", "presence")
        headers.append("Accept", "application/pidf+xml")
        headers.append("Expires", "\(limits.expires)")
        headers.append("Content-Length", "0")
        let request = SIPRequest(method: .subscribe, uri: uri, headers: headers)
        let tag = target.tag
        routing.route(request, target.owner) { [self] routed in
            guard let (routed, destination) = routed, let layer = state.withLock({ $0.layer }) else {
                return failed(tag, status: 503)
            }
            var request = routed
            request.headers.append("Contact", "<\(contactURI(destination.transport))>")
            state.withLock { s in s.byTag[tag]?.destination = destination }
            let sent = request
            do {
                try layer.start(sent, to: destination, pushVia: false) { [self] report in
                    guard case .outcome(let outcome) = report else { return }
                    answered(tag, sent, outcome)
                }
            } catch {
                failed(tag, status: (error as? SIPTransactionError)?.status ?? 503)
            }
        }
    }

    /// A refresh (or, with `expires` 0, the unsubscribe) in the dialog, to the server the
    /// first SUBSCRIBE went to.
    private func sendInDialog(_ tag: String, expires: Int) {
        let built = state.withLock { s -> (SIPRequest, SIPDestination, TransactionLayer)? in
            guard let entry = s.byTag[tag], var dialog = entry.dialog, let destination = entry.destination,
                  let layer = s.layer else { return nil }
            entry.inFlight = true
            let request = dialog.makeRequest(.subscribe, headers: [
                SIPHeaderField(name: "Event", value: "presence"),
                SIPHeaderField(name: "Accept", value: "application/pidf+xml"),
                SIPHeaderField(name: "Expires", value: "\(expires)"),
                SIPHeaderField(name: "Contact", value: "<\(contactURI(destination.transport))>"),
            ])
            entry.dialog = dialog
            return (request, destination, layer)
        }
        guard let (request, destination, layer) = built else { return failed(tag, status: 481) }
        do {
            try layer.start(request, to: destination) { [self] report in
                guard case .outcome(let outcome) = report else { return }
                answered(tag, request, outcome)
            }
        } catch {
            failed(tag, status: error.status ?? 503)
        }
    }

    /// The final answer to one of our SUBSCRIBEs.
    private func answered(_ tag: String, _ request: SIPRequest, _ outcome: ClientTransactionOutcome) {
        guard case .response(let response) = outcome else {
            if case .failed(let error) = outcome { failed(tag, status: error.status ?? 408) }
            return
        }
        guard response.statusCode >= 200 else { return }
        guard response.statusCode < 300 else { return failed(tag, status: response.statusCode) }
        let now = clock.now()
        let unsubscribe: Bool = state.withLock { s in
            guard let entry = s.byTag[tag] else { return false }
            entry.inFlight = false
            if entry.dialog == nil {
                guard let dialog = try? Dialog.uac(request: request, response: response) else { return false }
                entry.dialog = dialog
            } else {
                entry.dialog?.receiveResponse(response, to: request)
            }
            // Ending: the unsubscribe now, or, once it was answered, its final NOTIFY is still
            // answered until the grace period ends (the sweep forgets the entry then).
            if entry.ending { return request.expires != 0 }
            let granted = max(60, min(response.expires ?? limits.expires, limits.expires))
            entry.dueAt = now + Int64(granted * 3 / 4)
            return false
        }
        if unsubscribe { sendInDialog(tag, expires: 0) }
    }

    /// A SUBSCRIBE failed (`status`): the member shows no state, and a new dialog is tried
    /// after ``Limits/retryAfter``, at once when a refresh found its dialog gone (an ending
    /// one is forgotten).
    private func failed(_ tag: String, status: Int) {
        let now = clock.now()
        let member: String? = state.withLock { s in
            guard let entry = s.byTag[tag] else { return nil }
            changedOwners.withLock { _ = $0.insert(entry.owner) }
            let wasEstablished = entry.dialog != nil
            entry.inFlight = false
            entry.dialog = nil
            entry.state = .unknown
            if entry.ending {
                s.byTag[tag] = nil
            } else {
                // A refresh answered 481 or 408: the notifier forgot the dialog (a restart); a
                // new one at once. Anything else waits a retry period.
                entry.dueAt = now + (wasEstablished && (status == 481 || status == 408) ? 0 : limits.retryAfter)
            }
            return entry.member
        }
        logger.debug("list back-end subscription failed", metadata: ["sip.aor": "\(member ?? "")", "sip.status": "\(status)"])
    }

    /// The owners whose members' states here may have changed since the last call.
    func takeChangedOwners() -> Set<String> {
        changedOwners.withLock { owners in
            defer { owners = [] }
            return owners
        }
    }

    // MARK: - Receiving

    /// A NOTIFY in one of our back-end dialogs (RFC 6665 §4.1.3): its state becomes the
    /// member's. The answer: 200, or 481 outside our dialogs, 500 out of order.
    func receiveNotify(_ transaction: ServerTransaction) {
        let request = transaction.request
        let now = clock.now()
        let answer: (Int, String?) = state.withLock { s in
            guard let tag = request.to?.tag ?? nil, let entry = s.byTag[tag], entry.callID == request.callID,
                  let fromTag = request.from?.tag ?? nil else { return (481, nil) }
            if var dialog = entry.dialog {
                guard dialog.id.remoteTag == fromTag else { return (481, nil) }
                if case .reject(let status, let reason) = dialog.receive(request) { return (status, reason) }
                entry.dialog = dialog
            } else {
                // RFC 6665 §4.1.2.4: the NOTIFY may come before the 200; it makes the dialog.
                guard entry.inFlight, var dialog = try? Dialog.uas(request: request, localTag: tag) else { return (481, nil) }
                dialog.localSeq = 1
                entry.dialog = dialog
            }
            if entry.ending { return (200, nil) }
            changedOwners.withLock { _ = $0.insert(entry.owner) }  // bounded by the entries
            let subscriptionState = request.subscriptionState?.state ?? "active"
            switch subscriptionState {
            case "terminated":
                // RFC 6665 §4.1.3: after deactivated or timeout a new SUBSCRIBE at once; after
                // rejected, noresource or invariant not for ten retry periods; else (probation,
                // giveup) after retry-after, or one retry period.
                entry.state = .unknown
                entry.dialog = nil
                let subscriptionState = request.subscriptionState
                switch subscriptionState?.reason?.lowercased() {
                case "deactivated", "timeout": entry.dueAt = now
                case "rejected", "noresource", "invariant": entry.dueAt = now + 10 * limits.retryAfter
                default: entry.dueAt = now + Int64(subscriptionState?.retryAfter ?? Int(limits.retryAfter))
                }
            case "pending":
                entry.state = .pending
            default:
                guard !request.body.isEmpty else { break }
                guard let type = request.contentType, "\(type.type)/\(type.subtype)".lowercased() == PresenceContentType.pidf,
                      request.body.count <= limits.maxDocument, (try? PIDFDocument.parse(request.body)) != nil else {
                    return (415, "Unsupported Presence Document")
                }
                entry.state = .active(request.body)
            }
            return (200, nil)
        }
        do { try transaction.respond(answer.0, reasonPhrase: answer.1) } catch {
            logger.debug("response not sent", metadata: ["sip.error": "\(error)"])
        }
    }
}
