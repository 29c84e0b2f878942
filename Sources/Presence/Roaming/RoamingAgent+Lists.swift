import SIPCore
import SIPDialog
import SIPTransaction
import Store

/// RFC 4662 resource lists: each user's roaming contact list is also a list URI,
/// `sip:USER+contacts@DOMAIN`, that its owner (only) may subscribe to with `Event: presence`
/// and `Supported: eventlist` (linphonec's bodyless lists). The first NOTIFY carries full
/// state (RLMI plus one PIDF part per authorized member); then, at most once a second per
/// subscription (RFC 4662 §5 throttling: the sweep compares what each member would show
/// with what was sent), a partial NOTIFY with the members that changed; a membership change
/// sends full state. Back-end subscriptions to local members are internal (the presence
/// agent's composed state, under the member's access list); members homed elsewhere are
/// listed without an instance.
extension RoamingAgent {
    /// The suffix of a list URI's user part.
    public static let listSuffix = "+contacts"
    /// List subscriptions in all (each costs a comparison of its members every second).
    static let maxListMembersShown = ContactList.maxContacts

    /// The owner (`user@domain`) of the list `uri` names, nil when it names no list.
    public static func listOwner(_ uri: URI) -> String? {
        guard let sip = uri.sipURI, let user = sip.user, user.hasSuffix(listSuffix), user.count > listSuffix.count else {
            return nil
        }
        return AOR.normalize("\(user.dropLast(listSuffix.count))@\(sip.host)")
    }

    /// True when this agent serves `request`: ``handles(_:)``, a SUBSCRIBE to a list URI, or
    /// a request inside one of its dialogs.
    public func serves(_ request: SIPRequest) -> Bool {
        if Self.handles(request) { return true }
        if request.method == .notify { return backEnds.owns(request) }
        guard request.method == .subscribe else { return false }
        return Self.listOwner(request.uri) != nil || ownsDialog(of: request)
    }

    func subscribeList(_ transaction: ServerTransaction, user: String, owner: String) {
        let request = transaction.request
        guard let event = request.event, event.package.lowercased() == "presence" else {
            respond(transaction, 489, headers: [("Allow-Events", "presence")])
            return
        }
        guard owner == user else {
            respond(transaction, 403, reason: "Lists Are Private")
            return
        }
        // RFC 4662 §6: a subscriber that does not support eventlist cannot get the list.
        let supported = Set(request.headers["Supported"].flatMap { $0.split(separator: ",") }.map { XML.trimmed(String($0)).lowercased() })
        guard supported.contains("eventlist") else {
            respond(transaction, 421, headers: [("Require", "eventlist")])
            return
        }
        var expires = request.expires ?? configuration.defaultExpires
        if expires != 0, expires < configuration.minExpires {
            respond(transaction, 423, headers: [("Min-Expires", "\(configuration.minExpires)")])
            return
        }
        expires = min(expires, configuration.maxExpires)
        let localTag = PresenceAgent.makeTag()
        let dialog: Dialog
        do {
            dialog = try Dialog.uas(request: request, localTag: localTag, secureTransport: transaction.source.transport == .tls)
        } catch {
            respond(transaction, error.status ?? 400, reason: error.reason)
            return
        }
        let contact = environment.contactURI(transaction.source.transport)
        let source = transaction.source
        let reliable = source.transport.isReliable && source.flowID != nil
        let stored = StoredDialog(dialog)
        let expiresAt = environment.clock.now() + Int64(max(expires, 1))
        let eventID = event.id
        var sends: [(String, SIPRequest, SIPDestination)] = []
        let refused = state.withLock { s -> Bool in
            guard s.subscriptions.count < configuration.maxSubscriptions,
                  (s.byUser[user]?.count ?? 0) < configuration.maxSubscriptionsPerUser else { return true }
            let sub = RoamingSubscription(
                id: localTag, package: .contacts, user: user, dialog: stored, eventID: eventID, expiresAt: expiresAt,
                flowID: reliable ? source.flowID : nil, flowAddress: reliable ? source.remote : nil, contact: contact)
            sub.isList = true
            if expires > 0 {
                s.subscriptions[localTag] = sub
                s.byUser[user, default: []].append(localTag)
            }
            if let notify = makeNotify(sub, final: expires == 0) { sends.append(notify) }
            if expires > 0 { persist(sub) }
            return false
        }
        if refused {
            respond(transaction, 503, headers: [("Retry-After", "\(configuration.retryAfter)")])
            return
        }
        // The dialog's tag is ours (the NOTIFYs' From tag), not the transaction's.
        var response = SIPResponse(responding: request, statusCode: 200, toTag: localTag)
        response.headers.append("Expires", "\(expires)")
        response.headers.append("Contact", "<\(contact)>")
        response.headers.append("Require", "eventlist")
        do { try transaction.respond(response) } catch {
            logger.debug("response not sent", metadata: ["sip.error": "\(error)"])
        }
        send(sends)
        if expires > 0 { syncBackEnds(listOwners: [user], complete: false) }
        logger.debug("list subscription", metadata: ["sip.aor": "\(user)", "sip.expires": "\(expires)"])
    }

    /// The next NOTIFY body of a list subscription: full state when nothing was sent yet (or
    /// the membership changed), else the members whose state moved; nil when `onlyIfChanged`
    /// and nothing moved. Called under the lock.
    func listNotification(_ sub: RoamingSubscription, onlyIfChanged: Bool) -> ResourceListNotification? {
        let list = contacts.list(user: sub.user)
        // What was shown is kept as a hash per member, not the document (a few bytes a member
        // instead of a PIDF body): memory per list subscription stays small.
        var states: [String: Int] = [:]
        var members: [ResourceListNotification.Member] = []
        for contact in list.contacts.prefix(Self.maxListMembersShown) {
            var state = environment.resourceState(contact.uri, sub.user)
            if case .unknown = state { state = backEnds.resourceState(owner: sub.user, member: contact.uri) }
            states[contact.uri] = state.hashValue
            members.append(.init(uri: "sip:" + contact.uri, name: contact.name, state: state))
        }
        var full = true
        if let sent = sub.listSent, Set(sent.keys) == Set(states.keys) {
            full = false
            members = members.filter { sent[String($0.uri.dropFirst(4))] != $0.state.hashValue }
            if members.isEmpty && onlyIfChanged { return nil }
        }
        sub.listSent = states
        let notification = ResourceListNotification(listURI: "sip:\(Self.listUser(sub.user))", version: sub.listVersion,
                                                    fullState: full, members: members, idPrefix: sub.id)
        sub.listVersion += 1
        return notification
    }

    /// `alice+contacts@example.com` for `alice@example.com`.
    static func listUser(_ aor: String) -> String {
        guard let at = aor.lastIndex(of: "@") else { return aor }
        return aor[..<at] + listSuffix + aor[at...]
    }

    /// The sweep's RFC 4662 §5 throttled check: a partial NOTIFY for each list subscription
    /// whose members' state moved since the last one; and a NOTIFY for each `presence.wpending`
    /// or `vnd-microsoft-roaming-ACL` subscription whose pending watchers or access list
    /// changed. Called under the lock.
    func pollLists(_ s: inout State, _ sends: inout [(String, SIPRequest, SIPDestination)], now: Int64) {
        // presence.wpending the same way: a NOTIFY when the pending watchers changed.
        for sub in s.subscriptions.values where sub.package == .wpending {
            let pending = environment.pendingWatchers(sub.user)
            guard pending != sub.pendingSent else { continue }
            if sub.notifyInFlight {
                sub.notifyWanted = true
            } else if let notify = makeNotify(sub) {
                sub.pendingSent = pending
                sends.append(notify)
            }
        }
        // The access list likewise (`sipctl acl` in another process; setACE NOTIFYs at once).
        for sub in s.subscriptions.values where sub.package == .acl && !sub.isList {
            let entries = access.entries(user: sub.user)
            guard entries != sub.aclSent else { continue }
            if sub.notifyInFlight {
                sub.notifyWanted = true
            } else if let notify = makeNotify(sub) {
                sub.aclSent = entries
                sends.append(notify)
            }
        }
        // The members' states: only the lists holding a member whose state may have moved (taken
        // before composing, so that a change made meanwhile is seen by the next check); every
        // list every `fullListCheckEvery` seconds (directory changes are not logged).
        var presence = environment.takeChanges?() ?? .all
        let backEndOwners = backEnds.takeChangedOwners()
        if now - s.lastFullListCheck >= Self.fullListCheckEvery {
            s.lastFullListCheck = now
            presence = .all
        }
        for sub in s.subscriptions.values where sub.isList {
            guard backEndOwners.contains(sub.user) || presence.touches(contacts.list(user: sub.user).contacts.lazy.map(\.uri))
            else { continue }
            if sub.notifyInFlight {
                sub.notifyWanted = true
                continue
            }
            if let notify = makeNotify(sub, onlyIfChanged: true) { sends.append(notify) }
        }
    }
}

extension RoamingAgent {
    /// Seconds between list checks that compose every list, changed or not.
    static let fullListCheckEvery: Int64 = 30
}
