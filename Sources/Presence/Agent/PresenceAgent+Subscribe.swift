import SIPCore
import SIPDialog
import SIPTransaction
import Store

/// RFC 6665 §4.2.1: the notifier's handling of SUBSCRIBE.
extension PresenceAgent {
    func subscribe(_ transaction: ServerTransaction, package: PresencePackage, event: EventHeader,
                   authenticatedUser: String?) {
        let request = transaction.request
        // §4.2.1.1: Expires — absent is the package default, too short is 423.
        var expires = request.expires ?? configuration.defaultExpires
        if expires != 0, expires < configuration.minExpires {
            respond(transaction, 423, headers: [("Min-Expires", "\(configuration.minExpires)")])
            return
        }
        expires = min(expires, configuration.maxExpires)
        if let toTag = request.to?.tag {
            subscribeInDialog(transaction, toTag: toTag, package: package, expires: expires)
        } else {
            subscribeInitial(transaction, package: package, event: event, expires: expires,
                             authenticatedUser: authenticatedUser)
        }
    }

    private func subscribeInitial(_ transaction: ServerTransaction, package: PresencePackage, event: EventHeader,
                                  expires: Int, authenticatedUser: String?) {
        let request = transaction.request
        var expires = expires
        // With authentication on, a watcher nobody authenticated (a foreign From, which this
        // server cannot verify until federation vouches for it) is politely blocked, and
        // answered the same whether the presentity exists or not: one fetch (§4.4.3) showing
        // it offline, no lasting subscription (nothing kept, no watcher slot taken).
        let unverified = configuration.authenticationRequired && authenticatedUser == nil
        if unverified, package == .winfo {
            respond(transaction, 403, reason: "Watcher Information Is Private")
            return
        }
        // An unverified watcher's fetch takes a slot here; its NOTIFY carries it and gives it
        // back when its transaction is over. Any other way out of here gives it back.
        var holdsFetchSlot = false
        defer { if holdsFetchSlot { unverifiedFetches.subtract(1, ordering: .relaxed) } }
        if unverified {
            expires = 0
            holdsFetchSlot = true
            guard unverifiedFetches.add(1, ordering: .relaxed).newValue <= configuration.maxUnverifiedFetchesInFlight else {
                logger.debug("fetch refused: too many unverified fetches in flight")
                respond(transaction, 503, headers: [("Retry-After", "\(configuration.retryAfter)")])
                return
            }
        }
        guard let presentity = Self.aor(of: request.uri), unverified || environment.isLocalUser(presentity) else {
            // The same answer as for a user with no binding: it does not reveal who exists.
            respond(transaction, 480)
            return
        }
        guard let watcher = authenticatedUser ?? request.from.flatMap({ Self.aor(of: $0.uri) }) else {
            respond(transaction, 400, reason: "Bad From")
            return
        }
        // RFC 3857 §5.1: only the presentity may see who watches it.
        if package == .winfo, watcher != presentity {
            respond(transaction, 403, reason: "Watcher Information Is Private")
            return
        }
        // RFC 6665 §4.2.1: a body type the subscriber accepts (absent Accept: the default).
        let accept = request.headers["Accept"]
        if !accept.isEmpty, !PresenceContentType.accepts(accept, package.contentType) {
            respond(transaction, 406, headers: [("Accept", package.contentType)])
            return
        }
        let localTag = Self.makeTag()
        let dialog: Dialog
        do {
            dialog = try Dialog.uas(request: request, localTag: localTag,
                                    secureTransport: transaction.source.transport == .tls)
        } catch {
            respond(transaction, error.status ?? 400, reason: error.reason)
            return
        }
        let decision: WatchPolicy
        if package == .winfo {
            decision = .allow
        } else if unverified {
            decision = .block
        } else {
            decision = access.decide(presentity: presentity, watcher: watcher)
        }
        let now = environment.clock.now()
        let flow = notifyFlow(request: request, source: transaction.source, watcher: watcher)
        let contact = contactURI(transaction.source.transport)
        let eventID = event.id
        let stored = StoredDialog(dialog)
        var sends: [PendingNotify] = []
        var watcherCapped = false
        let refusal: Int? = state.withLock { s -> Int? in
            // Made under the lock: the agent's objects never leave it.
            let subscription = Subscription(
                id: localTag, package: package, presentity: presentity, watcher: watcher, dialog: stored,
                eventID: eventID, expiresAt: now + Int64(expires), status: decision == .pending ? .pending : .active,
                blocked: decision == .block, flowID: flow?.0, flowAddress: flow?.1, contact: contact)
            guard s.subscriptions.count < configuration.maxSubscriptions else { return 503 }
            if expires == 0 {
                // §4.4.3: a fetch — one NOTIFY with the state, no lasting subscription.
                if holdsFetchSlot {
                    guard s.unverifiedFetchesBySource[transaction.source.remote.host, default: 0]
                            < configuration.maxUnverifiedFetchesPerSource else { return 503 }
                }
                if var notify = makeNotify(subscription, &s, now: now, terminated: "timeout", parsed: dialog) {
                    if holdsFetchSlot {
                        // Nobody vouches for its Contact or Record-Route: the NOTIFY goes back
                        // where the SUBSCRIBE came from (the same connection over TCP/TLS), so
                        // a stranger cannot aim it at a third party's address.
                        notify.destination = Self.replyDestination(transaction.source)
                        notify.unverifiedFetchSource = transaction.source.remote.host
                        s.unverifiedFetchesBySource[transaction.source.remote.host, default: 0] += 1
                        holdsFetchSlot = false
                    }
                    sends.append(notify)
                }
                return nil
            }
            // The count only: a copy of the list kept alive here would make `insert` copy it.
            let watching = (package == .presence ? s.watchers[presentity]?.count : s.winfoWatchers[presentity]?.count) ?? 0
            guard watching < configuration.maxWatchersPerPresentity else { return 503 }
            guard s.perWatcher[watcher, default: 0] < configuration.maxSubscriptionsPerWatcher else {
                watcherCapped = true
                return 503
            }
            guard s.perPair[Self.pairKey(watcher, presentity, package), default: 0]
                    < configuration.maxSubscriptionsPerWatcherAndPresentity else {
                watcherCapped = true
                return 503
            }
            guard journal.record([.upsertSubscription(subscription.record)]) else { return 503 }
            insert(subscription, &s)
            if let notify = requestNotify(subscription, &s, now: now, parsed: dialog) { sends.append(notify) }
            if package == .presence { winfoChanged(presentity, &s, now: now, &sends) }
            return nil
        }
        if let refusal {
            if watcherCapped {
                logger.notice("subscription refused: the watcher holds the most it may", metadata: [
                    "presence.watcher": "\(watcher)", "presence.max_per_watcher": "\(configuration.maxSubscriptionsPerWatcher)",
                ])
            }
            respond(transaction, refusal, headers: [("Retry-After", "\(configuration.retryAfter)")])
            return
        }
        var response = SIPResponse(responding: request, statusCode: 200, toTag: localTag)
        response.headers.append("Expires", "\(expires)")
        response.headers.append("Contact", "<\(contact)>")
        do { try transaction.respond(response) } catch {
            logger.debug("response not sent", metadata: ["sip.error": "\(error)"])
        }
        if logger.logLevel <= .debug {
            logger.debug("subscription", metadata: [
                "presence.presentity": "\(presentity)", "presence.watcher": "\(watcher)",
                "presence.event": "\(package.rawValue)", "presence.decision": "\(decision)", "sip.expires": "\(expires)",
            ])
        }
        send(sends)
    }

    private func subscribeInDialog(_ transaction: ServerTransaction, toTag: String, package: PresencePackage,
                                   expires: Int) {
        let request = transaction.request
        let now = environment.clock.now()
        var sends: [PendingNotify] = []
        // nil: answered 200; else the status to refuse with.
        let refusal: (Int, String?)? = state.withLock { s -> (Int, String?)? in
            guard let sub = s.subscriptions[toTag], sub.dialog.matches(request) else {
                return (481, nil)  // RFC 3261 §12.2.2, RFC 6665 §4.2.1.2
            }
            guard sub.package == package else { return (489, nil) }
            guard var dialog = sub.dialog.dialog else { return (500, nil) }
            if case .reject(let status, let reason) = dialog.receive(request) { return (status, reason) }
            sub.dialog = StoredDialog(dialog)
            let refreshed = dialog
            if expires == 0 {
                // §4.2.1.4: unsubscribe — a final NOTIFY, then the subscription is gone.
                remove(sub, &s)
                _ = journal.record([.removeSubscription(id: sub.id)])
                if let notify = makeNotify(sub, &s, now: now, terminated: "timeout", parsed: refreshed) {
                    sends.append(notify)
                }
                if sub.package == .presence { winfoChanged(sub.presentity, &s, now: now, &sends) }
                return nil
            }
            reschedule(sub, expiresAt: now + Int64(expires), &s)
            _ = journal.record([.upsertSubscription(sub.record)])
            sub.persistedSeq = sub.dialog.localSeq
            if let notify = requestNotify(sub, &s, now: now, parsed: refreshed) { sends.append(notify) }
            return nil
        }
        if let (status, reason) = refusal {
            respond(transaction, status, reason: reason)
            return
        }
        respond(transaction, 200, headers: [("Expires", "\(expires)")])
        send(sends)
    }

    /// Where this subscriber's NOTIFYs go: over the connection its SUBSCRIBE came on when its
    /// Contact names that connection's far end (RFC 5923 connection reuse) or asks for it
    /// (`ob`, RFC 5626 §5.4), else over the flow its registration of that Contact holds.
    private func notifyFlow(request: SIPRequest, source: SIPMessageSource, watcher: String) -> (UInt64, SIPHostPort)? {
        guard let contact = request.contacts.first?.nameAddr else { return nil }
        if let flowID = source.flowID, source.transport.isReliable, let sip = contact.uri.sipURI {
            let port = sip.port ?? source.transport.defaultPort
            if sip.parameter("ob") != nil || (sip.hostWithoutBrackets == source.remote.host && port == source.remote.port) {
                return (flowID, source.remote)
            }
        }
        return environment.registeredFlow(watcher, contact.uri)
    }

    /// The SUBSCRIBE's source as a NOTIFY destination: its connection (a flow, RFC 5626
    /// §5.3) over TCP/TLS, its address over UDP (RFC 3581: the source port).
    static func replyDestination(_ source: SIPMessageSource) -> SIPDestination {
        let reliable = source.transport.isReliable
        return SIPDestination(transport: source.transport, address: source.remote,
                              flowID: reliable ? source.flowID : nil, flowAddress: reliable ? source.remote : nil)
    }

    // MARK: - Tables

    func insert(_ sub: Subscription, _ s: inout State) {
        s.subscriptions[sub.id] = sub
        s.perWatcher[sub.watcher, default: 0] += 1
        s.perPair[Self.pairKey(sub.watcher, sub.presentity, sub.package), default: 0] += 1
        switch sub.package {
        case .presence: Self.append(sub, to: &s.watchers[sub.presentity, default: []])
        case .winfo: Self.append(sub, to: &s.winfoWatchers[sub.presentity, default: []])
        }
        file(sub, at: sub.expiresAt, &s)
    }

    /// The key of `State.perPair`: the hash of a watcher, what it watches and the package
    /// (per-process seed). Two pairs sharing one (about 1 in 10^7 with a million
    /// subscriptions) would only share their count.
    static func pairKey(_ watcher: String, _ presentity: String, _ package: PresencePackage) -> Int {
        var hasher = Hasher()
        hasher.combine(watcher)
        hasher.combine(presentity)
        hasher.combine(package)
        return hasher.finalize()
    }

    /// One less for `key`; a count that reaches zero leaves the table.
    private static func decrement<Key: Hashable>(_ counts: inout [Key: Int], _ key: Key) {
        if let held = counts[key], held > 1 { counts[key] = held - 1 } else { counts[key] = nil }
    }

    private static func append(_ sub: Subscription, to ids: inout [String]) {
        sub.slot = ids.count
        ids.append(sub.id)
    }

    func remove(_ sub: Subscription, _ s: inout State) {
        guard s.subscriptions.removeValue(forKey: sub.id) != nil else { return }
        Self.decrement(&s.perWatcher, sub.watcher)
        Self.decrement(&s.perPair, Self.pairKey(sub.watcher, sub.presentity, sub.package))
        // In place (a copy of a popular presentity's list would cost its length), by its slot:
        // the last id takes its place. Returns the id that moved, and where to.
        func drop(_ index: inout [String: [String]]) -> (id: String, slot: Int)? {
            // Located in a call of its own: no copy of the list is alive when it is edited.
            guard let (slot, last) = locate(index[sub.presentity]) else { return nil }
            if last == 0 {
                index[sub.presentity] = nil
                return nil
            }
            let moved = index[sub.presentity, default: []][last]
            index[sub.presentity, default: []][slot] = moved
            index[sub.presentity, default: []].removeLast()
            return slot == last ? nil : (moved, slot)
        }
        func locate(_ ids: [String]?) -> (slot: Int, last: Int)? {
            guard let ids else { return nil }
            let slot = sub.slot < ids.count && ids[sub.slot] == sub.id ? sub.slot : ids.firstIndex(of: sub.id)
            return slot.map { ($0, ids.count - 1) }
        }
        let moved: (id: String, slot: Int)?
        switch sub.package {
        case .presence:
            moved = drop(&s.watchers)
            if s.watchers[sub.presentity] == nil { s.views[sub.presentity] = nil }
        case .winfo:
            moved = drop(&s.winfoWatchers)
        }
        if let moved { s.subscriptions[moved.id]?.slot = moved.slot }
    }

    func reschedule(_ sub: Subscription, expiresAt: Int64, _ s: inout State) {
        sub.expiresAt = expiresAt
        // Later than it is filed: the sweep re-files it when that second comes, so a watcher
        // refreshing in a loop grows no index.
        if expiresAt < sub.filedAt { file(sub, at: expiresAt, &s) }
    }

    func file(_ sub: Subscription, at second: Int64, _ s: inout State) {
        sub.filedAt = second
        s.subscriptionExpiry[second, default: []].append(sub.id)
    }
}
