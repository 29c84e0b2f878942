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
    func forward(_ plan: ForwardPlan, inbound: ListenTransport, onFinal: (@Sendable (Int) -> Void)? = nil) {
        if let onFinal { state.withLock { $0.onFinal = onFinal } }
        guard let layer = core.layer else {
            core.forget(transaction.id)
            core.respond(transaction, transaction.makeResponse(500, reasonPhrase: "Proxy Not Ready"))
            return
        }
        let identity = core.identity
        let request = transaction.request
        let seed = ((try? request.topVia?.branch) ?? nil) ?? request.headers.first("Call-ID") ?? ""
        // Branches are numbered under the lock first, so reports of early branches never
        // see a context that does not know the later ones.
        var branches: [(Int, ForwardedRequest?)] = []
        state.withLock { s in
            s.forwarded = true
            for target in plan.targets {
                guard let index = s.context.addBranch() else { break }
                let forwarded = RequestForwarding.forward(
                    plan.request, to: target, identity: identity, inbound: inbound, recordRoute: plan.recordRoute,
                    loopHash: plan.loopHash, seed: seed, fork: index)
                if forwarded != nil { s.running += 1 }
                branches.append((index, forwarded))
            }
        }
        var actions: [ResponseContext.Action] = []
        for (index, forwarded) in branches {
            guard let forwarded else {
                actions += state.withLock { $0.context.branchFailed(index, status: 503) }
                continue
            }
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
        finishIfDone()
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
