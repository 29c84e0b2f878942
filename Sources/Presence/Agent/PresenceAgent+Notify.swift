import SIPCore
import SIPDialog
import SIPTransaction
import Store

/// A NOTIFY built under the lock, started after it.
struct PendingNotify {
    let subscriptionID: String
    let request: SIPRequest
    var destination: SIPDestination
    /// A final NOTIFY (terminated): its answer changes nothing.
    let final: Bool
    /// The next hop whose pacing slot it holds (0: none, as for a final NOTIFY).
    var hop: HopPacing.Hop = 0
    /// What it counts against its hop's bytes in flight.
    var bytes = 0
    /// A fetch for a watcher nobody authenticated, from this source IP: counted in
    /// `unverifiedFetches` and `unverifiedFetchesBySource` until over.
    var unverifiedFetchSource: String?
}

/// RFC 6665 §4.2.2: the notifier's NOTIFYs, their throttling and their failures.
extension PresenceAgent {
    /// Asks for a NOTIFY with the subscription's current state. §4.2.2 throttling: while its
    /// window is full (or its next hop is, ``HopPacing``), a `change` of the presentity's
    /// state joins the subscription's bounded ``Subscription/backlog``, and the states there
    /// go out oldest first as answers free slots (so a watcher's NOTIFYs are in order and a
    /// short burst is seen whole); beyond the bound the burst coalesces into the latest state.
    /// `parsed` is the subscription's dialog when the caller has it parsed already.
    func requestNotify(_ sub: Subscription, _ s: inout State, now: Int64, parsed: Dialog? = nil,
                       change: [UInt8]? = nil) -> PendingNotify? {
        let windowFull = Int(sub.notifiesInFlight) >= window(sub)
        let hopFull = !windowFull && !s.pacing.acquire(sub.hop)
        if let change, windowFull || hopFull || !sub.backlog.isEmpty, queuesStates(sub) {
            if sub.backlog.count >= configuration.maxQueuedStatesPerSubscription { sub.backlog.removeFirst() }
            sub.backlog.append(change)
        }
        if windowFull {
            sub.notifyWanted = true
            return nil
        }
        // Per-hop pacing: over a full hop the subscription waits its turn (once), and its
        // queued states (or its latest) go when an answer frees a slot.
        if hopFull {
            sub.notifyWanted = true
            if !sub.waitingForHop {
                sub.waitingForHop = true
                s.pacing.wait(sub.id, on: sub.hop)
            }
            return nil
        }
        let queued = sub.backlog.isEmpty ? nil : sub.backlog.removeFirst()
        if !sub.backlog.isEmpty { sub.notifyWanted = true }
        guard var notify = makeNotify(sub, &s, now: now, terminated: nil, parsed: parsed, state: queued) else {
            s.pacing.release(sub.hop)
            return nil
        }
        let hop = HopPacing.hop(notify.destination)
        if hop != sub.hop {  // the first NOTIFY, or a new route: the slot moves to the real hop
            s.pacing.release(sub.hop)
            sub.hop = hop
            _ = s.pacing.acquire(hop)  // may go one over the limit, once per subscription
        }
        notify.hop = hop
        notify.bytes = notify.request.body.count + Self.notifyHeaderAllowance
        s.pacing.charge(hop, bytes: notify.bytes)
        sub.notifiesInFlight += 1
        return notify
    }

    /// What a NOTIFY's start line and headers count for in its hop's bytes in flight (a
    /// NOTIFY in a dialog carries about 400 to 600 bytes of them), besides its body.
    static let notifyHeaderAllowance = 600

    /// Whether `sub` keeps a backlog of states: an authorized presence watcher (a pending or
    /// politely blocked one never learns the presentity's states, winfo is full state).
    func queuesStates(_ sub: Subscription) -> Bool {
        sub.package == .presence && sub.status == .active && !sub.blocked && configuration.maxQueuedStatesPerSubscription > 0
    }

    /// A NOTIFY towards `hop` is answered (or failed): its slot goes to the subscriptions
    /// waiting longest for that hop.
    func releaseHop(_ hop: HopPacing.Hop, bytes: Int, _ s: inout State, now: Int64, _ sends: inout [PendingNotify]) {
        s.pacing.release(hop, bytes: bytes)
        drainHop(hop, &s, now: now, &sends)
    }

    /// NOTIFYs for the subscriptions waiting for `hop`, while it has free slots.
    func drainHop(_ hop: HopPacing.Hop, _ s: inout State, now: Int64, _ sends: inout [PendingNotify]) {
        while let id = s.pacing.nextWaiting(hop) {
            guard let sub = s.subscriptions[id] else { continue }
            sub.waitingForHop = false
            guard sub.notifyWanted, Int(sub.notifiesInFlight) < window(sub) else { continue }
            sub.notifyWanted = false
            if let notify = requestNotify(sub, &s, now: now) { sends.append(notify) }
        }
    }

    /// How many NOTIFYs of `sub` may be unanswered at once: over UDP one (a second could
    /// overtake it); over TCP/TLS `Configuration.maxNotifiesInFlight` (1 by default).
    func window(_ sub: Subscription) -> Int {
        sub.reliable ? max(1, min(configuration.maxNotifiesInFlight, Int(UInt8.max))) : 1
    }

    /// Builds the next NOTIFY of `sub` in its dialog (RFC 3261 §12.2.1.1): Event,
    /// Subscription-State (§8.2.3) and the body its state calls for.
    /// `state`: a queued state of the presentity to send instead of its current one.
    func makeNotify(_ sub: Subscription, _ s: inout State, now: Int64, terminated reason: String?,
                    parsed: Dialog? = nil, state queued: [UInt8]? = nil) -> PendingNotify? {
        let state: String
        if let reason {
            state = "terminated;reason=\(reason)"
        } else {
            let remaining = max(0, sub.expiresAt - now)
            state = "\(sub.status.rawValue);expires=\(remaining)"
        }
        var headers: [SIPHeaderField] = [
            SIPHeaderField(name: "Event", value: sub.package.rawValue + (sub.eventID.map { ";id=\($0)" } ?? "")),
            SIPHeaderField(name: "Subscription-State", value: state),
            SIPHeaderField(name: "Contact", value: "<\(sub.contact)>"),
        ]
        var body: [UInt8] = []
        switch sub.package {
        case .presence:
            // RFC 3857 §3.2: a pending subscription learns nothing of the presentity's state.
            if sub.status == .active, !sub.blocked {
                body = queued ?? view(of: sub.presentity, &s).body
            } else {
                sub.backlog.removeAll()  // blocked or pending now: queued states are not theirs to see
                if sub.status == .active { body = Self.offlineBody(sub.presentity) }
            }
        case .winfo:
            sub.winfoVersion += 1
            body = watcherInfo(of: sub.presentity, version: sub.winfoVersion, &s).serialized()
        }
        if !body.isEmpty { headers.append(SIPHeaderField(name: "Content-Type", value: sub.package.contentType)) }
        let request: SIPRequest
        let nextHop: URI
        if sub.dialog.routeSet.isEmpty, let target = parsed?.remoteTarget ?? URI(sub.dialog.remoteTarget),
           let built = sub.dialog.makeRequestWithoutRoutes(.notify, target: target, headers: headers, body: body) {
            // The common case, a watcher reached directly: one URI parsed, not the whole dialog.
            (request, nextHop) = (built, target)
        } else {
            guard var dialog = parsed ?? sub.dialog.dialog else { return nil }
            dialog.localSeq = sub.dialog.localSeq
            request = dialog.makeRequest(.notify, headers: headers, body: body)
            sub.dialog.localSeq = dialog.localSeq
            nextHop = dialog.nextHopURI
        }
        guard let destination = DialogDestination.resolve(nextHop, flowID: sub.flowID, flowAddress: sub.flowAddress) else {
            logger.warning("NOTIFY has no destination", metadata: ["sip.uri": "\(nextHop)"])
            return nil
        }
        // Pipelining needs a transport that keeps the NOTIFYs in order (TCP, TLS).
        sub.reliable = destination.transport.isReliable
        // Persist the CSeq now and then: a restore jumps past what may have gone unwritten.
        if reason == nil, sub.dialog.localSeq &- sub.persistedSeq >= Self.seqPersistInterval {
            if journal.record([.upsertSubscription(sub.record)]) { sub.persistedSeq = sub.dialog.localSeq }
        }
        return PendingNotify(subscriptionID: sub.id, request: request, destination: destination, final: reason != nil)
    }

    /// Gives back the slots an unverified watcher's fetch NOTIFY held.
    func releaseUnverifiedFetch(_ source: String) {
        unverifiedFetches.subtract(1, ordering: .relaxed)
        state.withLock { s in
            let left = s.unverifiedFetchesBySource[source, default: 1] - 1
            s.unverifiedFetchesBySource[source] = left > 0 ? left : nil
        }
    }

    /// Every how many NOTIFYs a subscription's CSeq is written; a restore adds twice this.
    static let seqPersistInterval: UInt32 = 64

    /// Starts the NOTIFYs' client transactions (outside the lock). A NOTIFY that fails at
    /// once may free a pacing slot for another: that one joins this loop's work list, so a
    /// hop's whole queue failing does not recurse.
    func send(_ notifies: [PendingNotify]) {
        guard !notifies.isEmpty, let layer = state.withLock({ $0.layer }) else { return }
        var work = notifies
        var next = 0
        while next < work.count {
            let notify = work[next]
            next += 1
            let id = notify.subscriptionID
            let final = notify.final
            let hop = notify.hop, bytes = notify.bytes
            let slot = notify.unverifiedFetchSource.map { source in ReleaseOnce { [self] in releaseUnverifiedFetch(source) } }
            do {
                try layer.start(notify.request, to: notify.destination) { [self] report in
                    if let slot, report.endsTheWait { slot() }
                    guard !final, case .outcome(let outcome) = report else { return }
                    notifyAnswered(id, outcome, hop: hop, bytes: bytes)
                }
            } catch where error.status == 503 {
                slot?()
                // The transaction table is full: not the watcher's fault. Its latest state
                // goes out with the next sweep.
                logger.debug("NOTIFY deferred", metadata: ["sip.error": "\(error)", "presence.subscription": "\(id)"])
                if !final { deferNotify(id, hop: hop, bytes: bytes) }
            } catch {
                slot?()
                logger.warning("NOTIFY not sent", metadata: ["sip.error": "\(error)", "presence.subscription": "\(id)"])
                if !final { work += answered(id, .failed(error), hop: hop, bytes: bytes) }
            }
            if next >= 4096, next * 2 >= work.count {  // keep the list short on a long run
                work.removeFirst(next)
                next = 0
            }
        }
    }

    /// §4.2.2: a NOTIFY's answer. 2xx: the next coalesced NOTIFY may go. 481, 408, a
    /// timeout (Timer F: the watcher did not answer for 32 s) or another failure without
    /// Retry-After: the subscription is over (removed without a further NOTIFY). A transport
    /// failure (a connection that closed under a burst, a refused connection) is not the
    /// watcher's answer: the latest state is retried by the next sweeps, and the
    /// subscription ends only after ``maxTransportFailures`` in a row. A failure while the
    /// server stops (`shuttingDown`) changes nothing: the subscription is restored.
    func notifyAnswered(_ id: String, _ outcome: ClientTransactionOutcome, hop: HopPacing.Hop = 0, bytes: Int = 0) {
        send(answered(id, outcome, hop: hop, bytes: bytes))
    }

    /// `notifyAnswered` under the lock: the NOTIFYs to send next.
    func answered(_ id: String, _ outcome: ClientTransactionOutcome, hop: HopPacing.Hop, bytes: Int = 0) -> [PendingNotify] {
        let now = environment.clock.now()
        var sends: [PendingNotify] = []
        state.withLock { s in
            if case .response(let response) = outcome, response.statusCode < 200 { return }  // still in flight
            releaseHop(hop, bytes: bytes, &s, now: now, &sends)
            guard let sub = s.subscriptions[id] else { return }
            if sub.notifiesInFlight > 0 { sub.notifiesInFlight -= 1 }
            var failed = false
            switch outcome {
            case .response(let response):
                if response.statusCode >= 300 { failed = response.headers.first("Retry-After") == nil }
                if !failed { sub.transportFailures = 0 }
            case .failed(let error) where error.code == .shuttingDown:
                return  // our own stop, not the watcher's answer: kept as persisted, restored
            case .failed(let error) where error.code != .timeout:
                // One strike per retry round, however many NOTIFYs the lost connection held.
                if s.deferred.insert(id).inserted { sub.transportFailures &+= 1 }
                if sub.transportFailures < Self.maxTransportFailures {
                    sub.notifyWanted = true
                    return
                }
                s.deferred.remove(id)
                failed = true
            case .failed:
                failed = true
            }
            if failed {
                logger.info("subscription ended by a failed NOTIFY", metadata: [
                    "presence.presentity": "\(sub.presentity)", "presence.watcher": "\(sub.watcher)",
                ])
                remove(sub, &s)
                _ = journal.record([.removeSubscription(id: sub.id)])
                if sub.package == .presence { winfoChanged(sub.presentity, &s, now: now, &sends) }
                return
            }
            if sub.notifyWanted, Int(sub.notifiesInFlight) < window(sub) {
                sub.notifyWanted = false
                if let notify = requestNotify(sub, &s, now: now) { sends.append(notify) }
            }
        }
        return sends
    }

    /// A NOTIFY that could not start: its state is wanted again, sent by the next sweep
    /// (which also hands its pacing slot on: the table is full now).
    func deferNotify(_ id: String, hop: HopPacing.Hop = 0, bytes: Int = 0) {
        state.withLock { s in
            s.pacing.release(hop, bytes: bytes)
            guard let sub = s.subscriptions[id] else { return }
            if sub.notifiesInFlight > 0 { sub.notifiesInFlight -= 1 }
            sub.notifyWanted = true
            s.deferred.insert(id)
        }
    }

    /// Transport failures in a row after which a subscription is given up.
    static let maxTransportFailures: UInt8 = 5
    /// Deferred NOTIFYs one sweep sends at most (the rest wait for the next sweep), so a
    /// retry after a lost connection does not become a burst that loses it again.
    static let maxRetriesPerSweep = 20_000

    /// The sweep's retry of deferred NOTIFYs (latest state only).
    func retryDeferred(_ s: inout State, now: Int64, _ sends: inout [PendingNotify]) {
        for hop in s.pacing.waitingHops { drainHop(hop, &s, now: now, &sends) }
        guard !s.deferred.isEmpty else { return }
        var ids: [String] = []
        ids.reserveCapacity(min(s.deferred.count, Self.maxRetriesPerSweep))
        while ids.count < Self.maxRetriesPerSweep, let id = s.deferred.popFirst() { ids.append(id) }
        for id in ids {
            guard let sub = s.subscriptions[id], sub.notifyWanted, Int(sub.notifiesInFlight) < window(sub) else { continue }
            sub.notifyWanted = false
            if let notify = requestNotify(sub, &s, now: now) { sends.append(notify) }
        }
    }

    // MARK: - What watchers see

    /// The presentity's composed state (RFC 3903 §4 event state compositor, RFC 4479):
    /// its publications when it has any; else "open" while it is registered (clients that
    /// never PUBLISH), "closed" when it is not.
    func view(of presentity: String, _ s: inout State) -> PresentityView {
        if let view = s.views[presentity] { return view }
        let view = composeView(presentity, &s)
        if s.watchers[presentity] != nil { s.views[presentity] = view }
        return view
    }

    func composeView(_ presentity: String, _ s: inout State) -> PresentityView {
        let entity = "sip:" + presentity
        let contacts = environment.registeredContacts(presentity)
        let document: PIDFDocument
        if let publications = s.publications[presentity], !publications.isEmpty {
            document = PIDFDocument.compose(entity: entity, publications: publications.map(\.document))
        } else if let contact = contacts.first {
            document = PIDFDocument.open(entity: entity, tupleID: "registration", contact: contact)
        } else {
            document = PIDFDocument.closed(entity: entity)
        }
        return PresentityView(registered: !contacts.isEmpty, body: document.serialized())
    }

    /// What a politely blocked watcher sees: the presentity offline (it cannot tell).
    static func offlineBody(_ presentity: String) -> [UInt8] {
        PIDFDocument.closed(entity: "sip:" + presentity).serialized()
    }

    /// The presentity's state changed: recompose, and NOTIFY every authorized watcher when
    /// what they see differs.
    func presentityChanged(_ presentity: String, _ s: inout State, now: Int64, _ sends: inout [PendingNotify]) {
        logChanges([presentity])
        guard let ids = s.watchers[presentity] else { return }
        let old = s.views[presentity]
        let view = composeView(presentity, &s)
        s.views[presentity] = view
        guard old?.body != view.body else { return }
        for id in ids {
            guard let sub = s.subscriptions[id], sub.status == .active, !sub.blocked else { continue }
            if let notify = requestNotify(sub, &s, now: now, change: view.body) { sends.append(notify) }
        }
    }

    /// RFC 3857 §4: the presentity's watchers changed; NOTIFY its winfo subscribers.
    func winfoChanged(_ presentity: String, _ s: inout State, now: Int64, _ sends: inout [PendingNotify]) {
        guard let ids = s.winfoWatchers[presentity] else { return }
        for id in ids {
            guard let sub = s.subscriptions[id] else { continue }
            if let notify = requestNotify(sub, &s, now: now) { sends.append(notify) }
        }
    }

    /// RFC 3858: every watcher of the presentity's presence, as full state.
    func watcherInfo(of presentity: String, version: Int, _ s: inout State) -> WatcherInfoDocument {
        let watchers = (s.watchers[presentity] ?? []).compactMap { id -> Watcher? in
            guard let sub = s.subscriptions[id] else { return nil }
            let status: Watcher.Status
            let event: Watcher.Event
            switch (sub.status, sub.blocked) {
            case (.pending, _): (status, event) = (.pending, .subscribe)
            case (.active, true): (status, event) = (.terminated, .rejected)
            case (.active, false): (status, event) = (.active, .approved)
            }
            return Watcher(id: sub.id, uri: "sip:" + sub.watcher, status: status, event: event)
        }
        return WatcherInfoDocument(version: version, state: .full,
                                   watcherList: WatcherList(resource: "sip:" + presentity, package: "presence", watchers: watchers))
    }
}
