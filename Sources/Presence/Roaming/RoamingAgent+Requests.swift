import SIPCore
import SIPDialog
import SIPTransaction
import SIPTransport
import Store

/// One of a user's self-subscriptions (a device's), only touched under the agent's lock.
final class RoamingSubscription {
    let id: String
    let package: RoamingPackage
    let user: String
    var dialog: StoredDialog
    let eventID: String?
    var expiresAt: Int64
    /// Where NOTIFYs go: the flow of the last SUBSCRIBE (a refresh after a restart moves it).
    var flowID: UInt64?
    var flowAddress: SIPHostPort?
    let contact: String
    var notifyInFlight = false
    var notifyWanted = false
    /// An RFC 4662 list subscription (to the user's roaming list as a resource list): its
    /// RLMI version and the hash of what each member was last shown (nil: send full state next).
    var isList = false
    var listVersion = 0
    var listSent: [String: Int]?
    /// `presence.wpending`: the pending watchers last shown.
    var pendingSent: [String] = []
    /// `vnd-microsoft-roaming-ACL`: the entries last shown.
    var aclSent: [AccessEntry] = []
    /// `vnd-microsoft-roaming-contacts`: the list last sent (the base of a `contactDelta`),
    /// and the deltaNum the device holds, known once it named it in a SERVICE (LCS clients
    /// do; nil: unknown, the device gets full lists). ``ContactDelta``.
    var contactsSent: ContactList?
    var clientDeltaNum: Int64?
    /// The local CSeq last persisted (``RoamingAgent/persist(_:)``).
    var persistedSeq: UInt32 = 0

    init(id: String, package: RoamingPackage, user: String, dialog: StoredDialog, eventID: String?, expiresAt: Int64,
         flowID: UInt64?, flowAddress: SIPHostPort?, contact: String) {
        self.id = id
        self.package = package
        self.user = user
        self.dialog = dialog
        self.eventID = eventID
        self.expiresAt = expiresAt
        self.flowID = flowID
        self.flowAddress = flowAddress
        self.contact = contact
    }
}

extension RoamingPackage {
    /// The package of an Event header (token compared without case: clients differ).
    init?(event: EventHeader) {
        guard let found = Self.allCases.first(where: { $0.rawValue.lowercased() == event.package.lowercased() }) else {
            return nil
        }
        self = found
    }
}

extension RoamingAgent {
    /// The current document of `package` for `user`, with its content type (nil: no body).
    func document(_ package: RoamingPackage, user: String) -> (String, [UInt8])? {
        switch package {
        case .contacts:
            return (RoamingDocuments.contactsContentType, RoamingDocuments.contactList(contacts.list(user: user)))
        case .acl:
            return (RoamingDocuments.aclContentType,
                    RoamingDocuments.acl(access.entries(user: user), deltaNum: contacts.list(user: user).deltaNum))
        case .wpending:
            return (RoamingDocuments.wpendingContentType, RoamingDocuments.pendingWatchers(environment.pendingWatchers(user)))
        case .provisioning:
            return nil
        }
    }

    // MARK: - SUBSCRIBE

    /// A self-subscription: only to oneself (403 otherwise). The 200 carries the current
    /// document (Pidgin reads the contact list from it, not from a NOTIFY; pidgin-sipe too,
    /// when `ms-piggyback-cseq` says it stands for the first NOTIFY) and the Event header;
    /// provisioning is answered with `Expires: 0` and nothing kept.
    func subscribe(_ transaction: ServerTransaction, user: String) {
        let request = transaction.request
        if let toTag = request.to?.tag {
            refresh(transaction, toTag: toTag)
            return
        }
        if let owner = Self.listOwner(request.uri) {
            subscribeList(transaction, user: user, owner: owner)
            return
        }
        guard let eventHeader = request.event, let package = RoamingPackage(event: eventHeader) else {
            respond(transaction, 489, headers: [("Allow-Events", Self.allowEvents)])
            return
        }
        guard Self.aor(of: request.uri) == user else {
            respond(transaction, 403, reason: "Roaming Data Is Private")
            return
        }
        var expires = request.expires ?? configuration.defaultExpires
        if package == .provisioning { expires = 0 }
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
        // [MS-SIP] §3.4: to a client that supports it, the 200 says it carries what the first
        // NOTIFY would have, with that NOTIFY's CSeq, which later NOTIFYs then follow.
        // pidgin-sipe reads the body of a 200 only then; Pidgin's SIMPLE reads it either way.
        let piggybackSeq: UInt32? = package != .provisioning && Self.supportsPiggyback(request) ? dialog.localSeq &+ 1 : nil
        if expires > 0 {
            let source = transaction.source
            let reliable = source.transport.isReliable && source.flowID != nil
            var stored = StoredDialog(dialog)
            if let piggybackSeq { stored.localSeq = piggybackSeq }
            let expiresAt = environment.clock.now() + Int64(expires)
            let eventID = eventHeader.id
            let refused = state.withLock { s -> Bool in
                guard s.subscriptions.count < configuration.maxSubscriptions,
                      (s.byUser[user]?.count ?? 0) < configuration.maxSubscriptionsPerUser else { return true }
                // Made under the lock: the agent's objects never leave it.
                let sub = RoamingSubscription(
                    id: localTag, package: package, user: user, dialog: stored, eventID: eventID, expiresAt: expiresAt,
                    flowID: reliable ? source.flowID : nil, flowAddress: reliable ? source.remote : nil, contact: contact)
                if package == .wpending { sub.pendingSent = environment.pendingWatchers(user) }
                if package == .acl { sub.aclSent = access.entries(user: user) }
                if package == .contacts { sub.contactsSent = contacts.list(user: user) }
                guard persist(sub) else { return true }  // the journal is full: 503
                s.subscriptions[localTag] = sub
                s.byUser[user, default: []].append(localTag)
                return false
            }
            if refused {
                respond(transaction, 503, headers: [("Retry-After", "\(configuration.retryAfter)")])
                return
            }
        }
        var response = SIPResponse(responding: request, statusCode: 200, toTag: localTag)
        response.headers.append("Event", eventHeader.description)
        response.headers.append("Expires", "\(expires)")
        response.headers.append("Contact", "<\(contact)>")
        if let (type, body) = document(package, user: user) {
            response.headers.append("Content-Type", type)
            response.body = body
            response.headers.replace("Content-Length", with: "\(body.count)")
            if let piggybackSeq {
                response.headers.append("Supported", "ms-piggyback-first-notify")
                response.headers.append("ms-piggyback-cseq", "\(piggybackSeq)")
            }
        }
        do { try transaction.respond(response) } catch {
            logger.debug("response not sent", metadata: ["sip.error": "\(error)"])
        }
        logger.debug("roaming subscription", metadata: ["sip.aor": "\(user)", "roaming.event": "\(package.rawValue)",
                                                        "sip.expires": "\(expires)"])
    }

    /// Whether the SUBSCRIBE names `ms-piggyback-first-notify` in a `Supported` header.
    static func supportsPiggyback(_ request: SIPRequest) -> Bool {
        request.headers["Supported"].contains { value in
            value.split(separator: ",").contains { XML.trimmed(String($0)).lowercased() == "ms-piggyback-first-notify" }
        }
    }

    /// A refresh or an unsubscribe inside one of our dialogs (RFC 6665 §4.2.1.2).
    func refresh(_ transaction: ServerTransaction, toTag: String) {
        let request = transaction.request
        var expires = request.expires ?? configuration.defaultExpires
        if expires != 0 { expires = max(configuration.minExpires, min(expires, configuration.maxExpires)) }
        let now = environment.clock.now()
        let event = request.event?.package.lowercased()
        var sends: [(String, SIPRequest, SIPDestination)] = []
        let found: (String, RoamingPackage, Bool)? = state.withLock { s in
            guard let sub = s.subscriptions[toTag], sub.dialog.matches(request),
                  event == (sub.isList ? "presence" : sub.package.rawValue.lowercased()) else { return nil }
            if expires == 0 {
                remove(toTag, &s)
            } else {
                sub.expiresAt = now + Int64(expires)
                // NOTIFYs follow the connection the refresh came over (a new one after a restart).
                let source = transaction.source
                if source.transport.isReliable, let flow = source.flowID {
                    sub.flowID = flow
                    sub.flowAddress = source.remote
                }
                if sub.package == .contacts, !sub.isList { sub.contactsSent = contacts.list(user: sub.user) }
                persist(sub)
            }
            if sub.isList {
                // RFC 6665 §4.2.1.2: a NOTIFY follows every SUBSCRIBE; a list's is full state.
                sub.listSent = nil
                if sub.notifyInFlight { sub.notifyWanted = true } else if let n = makeNotify(sub, final: expires == 0) { sends.append(n) }
            }
            return (sub.user, sub.package, sub.isList)
        }
        guard let (user, package, isList) = found else {
            respond(transaction, 481)
            return
        }
        if isList {
            respond(transaction, 200, headers: [("Expires", "\(expires)"), ("Require", "eventlist")])
            send(sends)
            return
        }
        var headers: [(String, String)] = [("Expires", "\(expires)")]
        var body: [UInt8] = []
        if let event = request.headers.first("Event") { headers.append(("Event", event)) }
        if expires > 0, let (type, document) = document(package, user: user) {
            headers.append(("Content-Type", type))
            body = document
        }
        respond(transaction, 200, headers: headers, body: body)
    }

    // MARK: - NOTIFY

    /// `user`'s document of `package` changed: NOTIFY every device subscribed to it, but the
    /// one whose SERVICE made the change (`except`: its flow, or its Contact URI).
    public func listChanged(_ user: String, package: RoamingPackage, except: SIPMessageSource? = nil,
                            exceptContact: String? = nil) {
        var sends: [(String, SIPRequest, SIPDestination)] = []
        let entries = package == .acl ? access.entries(user: user) : []
        state.withLock { s in
            for id in s.byUser[user] ?? [] {
                guard let sub = s.subscriptions[id], sub.package == package || (sub.isList && package == .contacts) else { continue }
                if package == .acl, !sub.isList { sub.aclSent = entries }  // the sweep has nothing more to say
                if !sub.isList, let except, let flow = except.flowID, sub.flowID == flow { continue }
                if !sub.isList, let exceptContact, sub.dialog.remoteTarget == exceptContact { continue }
                if sub.notifyInFlight {
                    sub.notifyWanted = true
                    continue
                }
                if let notify = makeNotify(sub) { sends.append(notify) }
            }
        }
        send(sends)
    }

    func makeNotify(_ sub: RoamingSubscription, final: Bool = false,
                    onlyIfChanged: Bool = false) -> (String, SIPRequest, SIPDestination)? {
        guard var dialog = sub.dialog.dialog else { return nil }
        let remaining = max(0, sub.expiresAt - environment.clock.now())
        var headers = [
            SIPHeaderField(name: "Event", value: sub.package.rawValue + (sub.eventID.map { ";id=\($0)" } ?? "")),
            SIPHeaderField(name: "Subscription-State", value: final ? "terminated;reason=timeout" : "active;expires=\(remaining)"),
            SIPHeaderField(name: "Contact", value: "<\(sub.contact)>"),
        ]
        var body: [UInt8] = []
        if sub.isList {
            guard let notification = listNotification(sub, onlyIfChanged: onlyIfChanged) else { return nil }
            // As Flexisip writes it for liblinphone: `Event: Presence`.
            headers[0] = SIPHeaderField(name: "Event", value: "Presence" + (sub.eventID.map { ";id=\($0)" } ?? ""))
            headers.append(SIPHeaderField(name: "Require", value: "eventlist"))
            headers.append(SIPHeaderField(name: "Content-Type", value: notification.contentType))
            body = notification.body()
        } else if sub.package == .contacts {
            headers.append(SIPHeaderField(name: "Content-Type", value: RoamingDocuments.contactsContentType))
            body = contactsNotification(sub)
        } else if let (type, document) = document(sub.package, user: sub.user) {
            headers.append(SIPHeaderField(name: "Content-Type", value: type))
            body = document
        }
        let request = dialog.makeRequest(.notify, headers: headers, body: body)
        sub.dialog.localSeq = dialog.localSeq
        if sub.dialog.localSeq &- sub.persistedSeq >= Self.seqPersistInterval { persist(sub) }
        guard let destination = DialogDestination.resolve(dialog.nextHopURI, flowID: sub.flowID,
                                                          flowAddress: sub.flowAddress) else { return nil }
        sub.notifyInFlight = true
        return (sub.id, request, destination)
    }

    /// The body of a roaming-contacts NOTIFY: a `contactDelta` from the list last sent when
    /// the device is known to hold that list, else the full list. Called under the lock.
    func contactsNotification(_ sub: RoamingSubscription) -> [UInt8] {
        let list = contacts.list(user: sub.user)
        defer { sub.contactsSent = list }
        guard let sent = sub.contactsSent, let known = sub.clientDeltaNum else { return RoamingDocuments.contactList(list) }
        sub.clientDeltaNum = list.deltaNum  // what the device holds once it has read this NOTIFY
        guard known == sent.deltaNum, sent.deltaNum < list.deltaNum else { return RoamingDocuments.contactList(list) }
        return ContactDelta.document(from: sent, to: list)
    }

    /// What a SERVICE tells of its device's roaming-contacts subscriptions: the deltaNum it
    /// holds (its SOAP `deltaNum`), or, after a change it made, the new list (the answer
    /// carried its deltaNum). The device is known by its flow or its Contact.
    func noteDevice(user: String, source: SIPMessageSource, contact: String?, deltaNum: Int64?, changed: ContactList?) {
        guard deltaNum != nil || changed != nil else { return }
        state.withLock { s in
            for id in s.byUser[user] ?? [] {
                guard let sub = s.subscriptions[id], sub.package == .contacts, !sub.isList else { continue }
                let sameFlow = source.flowID != nil && sub.flowID == source.flowID
                guard sameFlow || (contact != nil && sub.dialog.remoteTarget == contact) else { continue }
                if let changed, deltaNum != nil {
                    sub.contactsSent = changed
                    sub.clientDeltaNum = changed.deltaNum
                } else if let deltaNum, deltaNum == sub.contactsSent?.deltaNum {
                    sub.clientDeltaNum = deltaNum
                }
            }
        }
    }

    func send(_ notifies: [(String, SIPRequest, SIPDestination)]) {
        guard !notifies.isEmpty, let layer = state.withLock({ $0.layer }) else { return }
        for (id, request, destination) in notifies {
            do {
                try layer.start(request, to: destination) { [self] report in
                    guard case .outcome(let outcome) = report else { return }
                    notifyAnswered(id, outcome)
                }
            } catch {
                logger.warning("roaming NOTIFY not sent", metadata: ["sip.error": "\(error)"])
                notifyAnswered(id, .failed(error))
            }
        }
    }

    /// A NOTIFY's answer: a 2xx lets the next (coalesced) one go; a failure ends the
    /// subscription (the client subscribes again when it next registers). Our own stop is not
    /// a failure: the subscription stays as persisted, to be restored.
    func notifyAnswered(_ id: String, _ outcome: ClientTransactionOutcome) {
        if case .failed(let error) = outcome, error.code == .shuttingDown { return }
        var sends: [(String, SIPRequest, SIPDestination)] = []
        state.withLock { s in
            guard let sub = s.subscriptions[id] else { return }
            if case .response(let response) = outcome, response.statusCode < 200 { return }
            sub.notifyInFlight = false
            if case .response(let response) = outcome, response.statusCode < 300 {
                if sub.notifyWanted {
                    sub.notifyWanted = false
                    // A list's coalesced NOTIFY only if something moved meanwhile (the sweep
                    // asks while one is in flight, and usually nothing has).
                    if let notify = makeNotify(sub, onlyIfChanged: sub.isList) { sends.append(notify) }
                }
                return
            }
            logger.info("roaming subscription ended by a failed NOTIFY", metadata: ["sip.aor": "\(sub.user)"])
            remove(id, &s)
        }
        send(sends)
    }
}
