import Logging
import SIPCore
import SIPTransaction

/// What reaches a response context's loop: client transaction outcomes, CANCEL from
/// upstream, timer C.
enum ProxyEvent: Sendable {
    case outcome(branch: Int, ClientTransactionOutcome)
    case branchEnded(branch: Int)
    case cancel
    case timerC(branch: Int, generation: Int)
}

extension ProxyCore {
    /// §16.6 forwarding to every target in parallel, then §16.7 response processing until
    /// every branch has ended.
    func forward(_ transaction: ServerTransaction, plan: ForwardPlan, inbound: ListenTransport) async {
        guard let layer else {
            await respond(transaction, transaction.makeResponse(500, reasonPhrase: "Proxy Not Ready"))
            return
        }
        let identity = self.identity
        let seed = ((try? transaction.request.topVia?.branch) ?? nil) ?? transaction.request.headers.first("Call-ID") ?? ""
        var context = ResponseContext(request: transaction.request)
        var clients: [Int: ClientTransaction] = [:]
        var pending: [ResponseContext.Action] = []
        for target in plan.targets {
            guard let index = context.addBranch() else { break }
            guard let forwarded = RequestForwarding.forward(
                plan.request, to: target, identity: identity, inbound: inbound, recordRoute: plan.recordRoute,
                loopHash: plan.loopHash, seed: seed, fork: index) else {
                pending += context.branchFailed(index, status: 503)
                continue
            }
            do {
                clients[index] = try await layer.start(forwarded.request, to: SIPDestination(forwarded.nextHop),
                                                       pushVia: false)
                if logger.logLevel <= .debug {
                    logger.debug("forwarded", metadata: ["sip.call_id": "\(transaction.request.callID ?? "")",
                                                         "sip.target": "\(target.uri)", "sip.next_hop": "\(forwarded.nextHop)"])
                }
            } catch {
                logger.debug("client transaction not started", metadata: ["sip.error": "\(error)"])
                pending += context.branchFailed(index, status: 503)
            }
        }
        // Targets that could not be tried count as failed branches; with none left, the
        // best response already went into `pending`.
        if clients.count == 1, transaction.request.method != .invite, let (index, client) = clients.first {
            await runSingleBranch(transaction, context: &context, index: index, client: client, pending: pending)
        } else {
            await runBranches(transaction, context: &context, clients: clients, pending: pending)
        }
    }

    /// The common case, a non-INVITE to one contact (MESSAGE relay): no CANCEL, no timer C,
    /// so the outcomes are read directly.
    func runSingleBranch(_ transaction: ServerTransaction, context: inout ResponseContext, index: Int,
                         client: ClientTransaction, pending: [ResponseContext.Action]) async {
        var timers = TimerCState()
        await perform(pending, transaction, clients: [index: client], timers: &timers)
        for await outcome in client.outcomes {
            let actions = apply(outcome, branch: index, to: &context)
            await perform(actions, transaction, clients: [index: client], timers: &timers)
        }
        let actions = context.branchFailed(index, status: 408)
        await perform(actions, transaction, clients: [index: client], timers: &timers)
    }

    /// Forking and INVITE: branches, CANCEL and timer C merged into one event stream.
    func runBranches(_ transaction: ServerTransaction, context: inout ResponseContext,
                     clients: [Int: ClientTransaction], pending: [ResponseContext.Action]) async {
        let (events, continuation) = AsyncStream.makeStream(of: ProxyEvent.self)
        let isInvite = transaction.request.method == .invite
        if isInvite { cancellable.withLock { $0[transaction.id] = continuation } }
        defer {
            if isInvite { _ = cancellable.withLock { $0.removeValue(forKey: transaction.id) } }
            continuation.finish()
        }
        var timers = TimerCState()
        let timerC = configuration.timerC
        await withTaskGroup(of: Void.self) { group in
            for (index, client) in clients {
                group.addTask {
                    for await outcome in client.outcomes { continuation.yield(.outcome(branch: index, outcome)) }
                    continuation.yield(.branchEnded(branch: index))
                }
                if isInvite { timers.start(index, after: timerC, continuation: continuation, group: &group) }
            }
            for branch in await perform(pending, transaction, clients: clients, timers: &timers) {
                timers.start(branch, after: timerC, continuation: nil, group: &group)
            }
            var remaining = clients.count
            if remaining > 0 {
                for await event in events {
                    var actions: [ResponseContext.Action] = []
                    switch event {
                    case .outcome(let branch, let outcome):
                        actions = apply(outcome, branch: branch, to: &context)
                    case .branchEnded(let branch):
                        remaining -= 1
                        actions = context.branchFailed(branch, status: 408)
                    case .cancel:
                        actions = context.cancelReceived()
                    case .timerC(let branch, let generation):
                        if timers.isCurrent(branch, generation) { actions = context.timerCFired(on: branch) }
                    }
                    for branch in await perform(actions, transaction, clients: clients, timers: &timers) {
                        timers.start(branch, after: timerC, continuation: nil, group: &group)
                    }
                    if remaining == 0 { break }
                }
            }
            group.cancelAll()
        }
    }

    /// §16.7 steps 1-4: our Via comes off, the response goes into the context; a failed
    /// transaction counts as 408 (timeout) or 503 (transport error, §16.9).
    func apply(_ outcome: ClientTransactionOutcome, branch: Int, to context: inout ResponseContext) -> [ResponseContext.Action] {
        switch outcome {
        case .response(var response):
            response.headers.removeFirstValue("Via")
            return context.receive(response, on: branch)
        case .failed(let error):
            return context.branchFailed(branch, status: error.code == .timeout ? 408 : 503)
        }
    }

    /// Carries out `actions`; returns the branches whose timer C must restart (the caller
    /// owns the task group the timers run in).
    @discardableResult
    func perform(_ actions: [ResponseContext.Action], _ transaction: ServerTransaction, clients: [Int: ClientTransaction],
                 timers: inout TimerCState) async -> [Int] {
        var restarts: [Int] = []
        for action in actions {
            switch action {
            case .forward(let response):
                await respond(transaction, response)
            case .cancel(let branch):
                await clients[branch]?.cancel()
            case .restartTimerC(let branch):
                restarts.append(branch)
            case .stopTimerC(let branch):
                timers.stop(branch)
            }
        }
        return restarts
    }
}

/// Timer C per branch (§16.8): a generation number per branch; a sleeping task reports its
/// generation, and a restart or stop makes older ones stale.
struct TimerCState {
    var generations: [Int: Int] = [:]
    var continuation: AsyncStream<ProxyEvent>.Continuation?

    mutating func start(_ branch: Int, after duration: Duration, continuation: AsyncStream<ProxyEvent>.Continuation?,
                        group: inout TaskGroup<Void>) {
        if let continuation { self.continuation = continuation }
        guard let sink = self.continuation else { return }
        let generation = (generations[branch] ?? 0) + 1
        generations[branch] = generation
        group.addTask {
            do { try await Task.sleep(for: duration) } catch { return }
            sink.yield(.timerC(branch: branch, generation: generation))
        }
    }

    mutating func stop(_ branch: Int) { generations[branch, default: 0] += 1 }

    func isCurrent(_ branch: Int, _ generation: Int) -> Bool { generations[branch] == generation }
}
