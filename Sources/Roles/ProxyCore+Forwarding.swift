import Logging
import SIPCore
import SIPTransaction
import Synchronization

/// One request being proxied statefully (RFC 3261 §16.6-§16.10): its server transaction,
/// the response context of its branches, their client transactions, timer C per branch
/// and a CANCEL that may come before the branches exist. Reports from the transaction
/// layer arrive on whatever event loop read the response; the state is under a short lock
/// and the resulting actions are carried out after it is released.
final class ProxyTransaction: Sendable {
    struct State {
        var context: ResponseContext
        var clients: [Int: ClientTransactionHandle] = [:]
        /// Branches whose CANCEL was decided before their client transaction was known.
        var cancelWanted: Set<Int> = []
        /// Branches still running (started, not yet terminated).
        var running = 0
        var forwarded = false
        var cancelled = false
        var timerC: [Int: Int] = [:]
        /// The plan being carried out (a 3xx's contacts become more branches of it).
        var plan: ForwardPlan?
        var inbound: ListenTransport = .udp
        /// The sender whose relay limit the branches count against (nil: a configured peer).
        var relaySource: String?
        /// Per branch: its target, its attempt number, the RFC 3263 candidates left.
        var targets: [Int: ForwardTarget] = [:]
        var attempts: [Int: Int] = [:]
        var alternates: [Int: [NextHop]] = [:]
        /// Told the final status once it goes upstream (``ForwardAdmission/forward(onFinal:)``).
        var onFinal: (@Sendable (Int) -> Void)?
        var finalSent = false
    }

    let transaction: ServerTransaction
    let core: ProxyCore
    let state: Mutex<State>
    let started = ContinuousClock.now

    init(transaction: ServerTransaction, core: ProxyCore) {
        self.transaction = transaction
        self.core = core
        state = Mutex(State(context: ResponseContext(request: transaction.request)))
    }

    var isInvite: Bool { transaction.request.method == .invite }

    /// §16.6 forwarding to every target in parallel, then §16.7 response processing as the
    /// branches report.
    func forward(_ plan: ForwardPlan, inbound: ListenTransport, relaySource: String?, onFinal: (@Sendable (Int) -> Void)? = nil) {
        if let onFinal { state.withLock { $0.onFinal = onFinal } }
        guard core.layer != nil else {
            core.forget(transaction.id)
            core.respond(transaction, transaction.makeResponse(500, reasonPhrase: "Proxy Not Ready"))
            return
        }
        // Branches are numbered under the lock first, so reports of early branches never
        // see a context that does not know the later ones.
        var indexed: [(Int, ForwardTarget)] = []
        state.withLock { s in
            s.forwarded = true
            s.plan = plan
            s.inbound = inbound
            s.relaySource = relaySource
            if plan.followRedirects { s.context.redirectBudget = 2 }
            for target in plan.targets {
                guard let index = s.context.addBranch() else { break }
                indexed.append((index, target))
            }
        }
        startBranches(indexed)
        finishIfDone()
    }

    /// Builds each branch's request (§16.6 steps 1-8), resolves its next hop (RFC 3263: a
    /// peer by name, DNS for other names) and starts its client transaction.
    private func startBranches(_ indexed: [(Int, ForwardTarget)]) {
        guard let (plan, inbound) = state.withLock({ s in s.plan.map { ($0, s.inbound) } }) else { return }
        let seed = self.seed
        var actions: [ResponseContext.Action] = []
        for (index, target) in indexed {
            guard let preview = RequestForwarding.forward(
                plan.request, to: target, identity: core.identity, inbound: inbound, recordRoute: plan.recordRoute,
                loopHash: plan.loopHash, seed: seed, fork: index, origin: transaction.source.remote) else {
                actions += state.withLock { $0.context.branchFailed(index, status: 503) }
                continue
            }
            state.withLock { s in
                s.targets[index] = target
                s.running += 1  // held while the name resolves
            }
            if let now = core.resolver.resolveNow(preview.nextHop), now.first == preview.nextHop {
                resolvedHops(now, branch: index, preview: preview)
            } else {
                core.resolver.resolve(preview.nextHop) { [self] hops in self.resolvedHops(hops, branch: index, preview: nil) }
            }
        }
        // A CANCEL that came while the request was being routed (§16.10).
        actions += state.withLock { s in s.cancelled ? s.context.cancelReceived() : [] }
        perform(actions)
    }

    private var seed: String {
        let request = transaction.request
        return ((try? request.topVia?.branch) ?? nil) ?? request.headers.first("Call-ID") ?? ""
    }

    /// The candidates for branch `index` are known: send to the first, keep the others for
    /// failover. `preview` is the request already built for the first (a numeric hop).
    private func resolvedHops(_ hops: [NextHop], branch index: Int, preview: ForwardedRequest?) {
        let actions: [ResponseContext.Action] = state.withLock { s in
            s.running -= 1
            guard hops.isEmpty else {
                s.alternates[index] = Array(hops.dropFirst())
                return []
            }
            return s.context.branchFailed(index, status: 503)
        }
        if hops.isEmpty {
            core.logger.notice("next hop not resolved", metadata: ["sip.call_id": "\(transaction.request.callID ?? "")"])
            perform(actions)
            finishIfDone()
            return
        }
        send(branch: index, to: hops[0], prebuilt: preview)
    }

    /// Starts a client transaction for branch `index` towards `hop` (a new attempt: a new
    /// Via branch, so a failover is a new transaction, RFC 3263 §4.3).
    private func send(branch index: Int, to hop: NextHop, prebuilt: ForwardedRequest?) {
        guard let layer = core.layer else { return }
        let (attempt, target, plan, inbound, relaySource) = state.withLock { s in
            s.attempts[index, default: 0] += 1
            s.running += 1
            return (s.attempts[index]!, s.targets[index], s.plan, s.inbound, s.relaySource)
        }
        let built = prebuilt ?? target.flatMap { target in plan.flatMap { plan in
            RequestForwarding.forward(plan.request, to: target, identity: core.identity, inbound: inbound,
                                      recordRoute: plan.recordRoute, loopHash: plan.loopHash,
                                      seed: attempt == 1 ? seed : "\(seed).\(attempt)", fork: index, resolved: hop,
                                      origin: transaction.source.remote)
        } }
        guard let forwarded = built else {
            let actions = state.withLock { s in
                s.running -= 1
                return s.context.branchFailed(index, status: 503)
            }
            perform(actions)
            return
        }
        // A slot of the sender's and the hop's limits, given back when it answers, fails, or
        // the transaction ends.
        guard case .admitted(let slot) = core.admitRelay(to: forwarded.nextHop, from: relaySource) else {
            state.withLock { $0.running -= 1 }
            failOver(branch: index, status: 503)
            return
        }
        do {
            let handle = try layer.start(forwarded.request, to: SIPDestination(forwarded.nextHop), pushVia: false) {
                [self] report in
                if let slot, report.endsTheWait { slot() }
                self.report(report, branch: index, attempt: attempt)
            }
            let cancelNow = state.withLock { s in
                s.clients[index] = handle
                return s.cancelWanted.remove(index) != nil
            }
            if cancelNow { handle.cancel() }
            if isInvite, attempt == 1 { startTimerC(index) }
            if core.logger.logLevel <= .debug {
                core.logger.debug("forwarded", metadata: ["sip.call_id": "\(transaction.request.callID ?? "")",
                                                          "sip.next_hop": "\(forwarded.nextHop)"])
            }
        } catch {
            slot?()
            core.logger.debug("client transaction not started", metadata: ["sip.error": "\(error)"])
            state.withLock { $0.running -= 1 }
            failOver(branch: index, status: error.status ?? 503)
        }
    }

    /// The current attempt of branch `index` failed with `status` (a transport error, a
    /// timeout, a 503): the next candidate, or the failure goes into the context.
    private func failOver(branch index: Int, status: Int) {
        let next: NextHop? = state.withLock { s in
            guard !s.cancelled, !s.context.searchEnded, var rest = s.alternates[index], !rest.isEmpty else { return nil }
            let hop = rest.removeFirst()
            s.alternates[index] = rest
            return hop
        }
        if let next {
            core.logger.info("failing over to the next target", metadata: ["sip.call_id": "\(transaction.request.callID ?? "")",
                                                                           "sip.next_hop": "\(next)", "sip.status": "\(status)"])
            send(branch: index, to: next, prebuilt: nil)
            return
        }
        perform(state.withLock { $0.context.branchFailed(index, status: status) })
    }

    /// CANCEL from upstream (§16.10): cancels pending branches now, or once they exist.
    func cancel() {
        let actions: [ResponseContext.Action] = state.withLock { s in
            guard !s.cancelled else { return [] }
            s.cancelled = true
            return s.forwarded ? s.context.cancelReceived() : []
        }
        perform(actions)
    }

    /// A report of branch `index`'s client transaction (§16.7 steps 1-4): our Via comes off
    /// and the response goes into the context; a failed or ended transaction counts as 408
    /// (timeout) or 503 (transport error, §16.9). A transport error, a timeout or a 503 fails
    /// over to the branch's next RFC 3263 candidate first, if any. Reports of an attempt that
    /// was failed over from only count its end.
    func report(_ report: ClientTransactionReport, branch index: Int, attempt: Int = 1) {
        let current = state.withLock { ($0.attempts[index] ?? 1) == attempt }
        if !current {
            if case .terminated = report {
                state.withLock { $0.running -= 1 }
                finishIfDone()
            }
            return
        }
        let hasAlternates = state.withLock { !($0.alternates[index] ?? []).isEmpty }
        if hasAlternates {
            switch report {
            case .outcome(.response(let response)) where response.statusCode == 503:
                return failOver(branch: index, status: 503)
            case .outcome(.failed(let error)):
                return failOver(branch: index, status: error.code == .timeout ? 408 : 503)
            default: break
            }
        }
        let actions: [ResponseContext.Action] = state.withLock { s in
            switch report {
            case .outcome(.response(var response)):
                response.headers.removeFirstValue("Via")
                return s.context.receive(response, on: index)
            case .outcome(.failed(let error)):
                return s.context.branchFailed(index, status: error.code == .timeout ? 408 : 503)
            case .terminated:
                s.running -= 1
                s.timerC[index] = nil
                return s.context.branchFailed(index, status: 408)
            }
        }
        perform(actions)
        if case .terminated = report { finishIfDone() }
    }

    private func finishIfDone() {
        guard isInvite, state.withLock({ $0.running <= 0 }) else { return }
        core.forget(transaction.id)
    }

    private func perform(_ actions: [ResponseContext.Action]) {
        for action in actions {
            switch action {
            case .forward(let response):
                core.respond(transaction, response, relayed: true)
                if response.statusCode >= 200 { finalSent(response.statusCode) }
            case .cancel(let branch):
                let handle: ClientTransactionHandle? = state.withLock { s in
                    if let handle = s.clients[branch] { return handle }
                    s.cancelWanted.insert(branch)
                    return nil
                }
                handle?.cancel()
            case .restartTimerC(let branch):
                startTimerC(branch)
            case .stopTimerC(let branch):
                state.withLock { $0.timerC[branch, default: 0] += 1 }
            case .redirect(let opened):
                // §16.7 step 4: a server URI is where the request goes (its Request-URI
                // unchanged); a user's URI becomes the Request-URI.
                let requestURI = state.withLock { $0.plan?.request.uri } ?? transaction.request.uri
                startBranches(opened.map { branch in
                    guard branch.contact.sipURI?.user == nil, let hop = NextHop(uri: branch.contact) else {
                        return (branch.index, ForwardTarget(uri: branch.contact))
                    }
                    return (branch.index, ForwardTarget(uri: requestURI, destination: hop))
                })
            }
        }
    }

    /// The first final response went upstream: tell the gate's observer (the archive's final
    /// status) and the core's (metrics, request log), once.
    private func finalSent(_ status: Int) {
        let pending: (@Sendable (Int) -> Void)?? = state.withLock { s in
            guard !s.finalSent else { return nil }
            s.finalSent = true
            defer { s.onFinal = nil }
            return .some(s.onFinal)
        }
        guard let onFinal = pending else { return }
        onFinal?(status)
        core.observer?.relayed(transaction.request, status: status, latency: ContinuousClock.now - started)
    }

    /// Timer C (§16.8) for `branch`: a generation number; a restart or stop makes older
    /// firings stale.
    private func startTimerC(_ branch: Int) {
        guard let layer = core.layer else { return }
        let generation = state.withLock { s in
            let next = (s.timerC[branch] ?? 0) + 1
            s.timerC[branch] = next
            return next
        }
        layer.schedule(after: core.configuration.timerC) { [weak self] in
            guard let self else { return }
            let actions: [ResponseContext.Action] = self.state.withLock { s in
                s.timerC[branch] == generation ? s.context.timerCFired(on: branch) : []
            }
            self.perform(actions)
        }
    }
}
