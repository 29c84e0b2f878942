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
    }

    let transaction: ServerTransaction
    let core: ProxyCore
    let state: Mutex<State>

    init(transaction: ServerTransaction, core: ProxyCore) {
        self.transaction = transaction
        self.core = core
        state = Mutex(State(context: ResponseContext(request: transaction.request)))
    }

    var isInvite: Bool { transaction.request.method == .invite }

    /// §16.6 forwarding to every target in parallel, then §16.7 response processing as the
    /// branches report.
    func forward(_ plan: ForwardPlan, inbound: ListenTransport) {
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
            if plan.followRedirects { s.context.redirectBudget = 2 }
            for target in plan.targets {
                guard let index = s.context.addBranch() else { break }
                indexed.append((index, target))
            }
        }
        startBranches(indexed)
        finishIfDone()
    }

    /// Builds each branch's request (§16.6 steps 1-8) and starts its client transaction.
    private func startBranches(_ indexed: [(Int, ForwardTarget)]) {
        guard let layer = core.layer, let (plan, inbound) = state.withLock({ s in s.plan.map { ($0, s.inbound) } }) else {
            return
        }
        let identity = core.identity
        let request = transaction.request
        let seed = ((try? request.topVia?.branch) ?? nil) ?? request.headers.first("Call-ID") ?? ""
        var actions: [ResponseContext.Action] = []
        for (index, target) in indexed {
            let built = RequestForwarding.forward(
                plan.request, to: target, identity: identity, inbound: inbound, recordRoute: plan.recordRoute,
                loopHash: plan.loopHash, seed: seed, fork: index)
            guard var forwarded = built, let hop = core.resolved(forwarded.nextHop) else {
                actions += state.withLock { $0.context.branchFailed(index, status: 503) }
                continue
            }
            forwarded.nextHop = hop
            state.withLock { $0.running += 1 }
            do {
                let handle = try layer.start(forwarded.request, to: SIPDestination(forwarded.nextHop), pushVia: false) {
                    [self] report in self.report(report, branch: index)
                }
                let cancelNow = state.withLock { s in
                    s.clients[index] = handle
                    return s.cancelWanted.remove(index) != nil
                }
                if cancelNow { handle.cancel() }
                if isInvite { startTimerC(index) }
                if core.logger.logLevel <= .debug {
                    core.logger.debug("forwarded", metadata: ["sip.call_id": "\(request.callID ?? "")",
                                                              "sip.next_hop": "\(forwarded.nextHop)"])
                }
            } catch {
                core.logger.debug("client transaction not started", metadata: ["sip.error": "\(error)"])
                actions += state.withLock { s in
                    s.running -= 1
                    return s.context.branchFailed(index, status: error.status ?? 503)
                }
            }
        }
        // A CANCEL that came while the request was being routed (§16.10).
        actions += state.withLock { s in s.cancelled ? s.context.cancelReceived() : [] }
        perform(actions)
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
    /// (timeout) or 503 (transport error, §16.9).
    func report(_ report: ClientTransactionReport, branch index: Int) {
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
                core.respond(transaction, response)
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
