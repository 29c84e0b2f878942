import Logging
import SIPCore
import SIPTransport

/// One client transaction held by the layer.
/// A class, touched only under the layer's lock: a table lookup hands out a reference, not a
/// copy of the request and destination to retain and release on every event.
final class ClientEntry {
    enum Machine {
        case invite(InviteClientTransaction)
        case nonInvite(NonInviteClientTransaction)
    }
    var machine: Machine
    let key: ClientTransactionKey
    let request: SIPRequest
    let destination: SIPDestination
    let report: @Sendable (ClientTransactionReport) -> Void
    var cancelPending = false
    var cancelSent = false

    init(machine: Machine, key: ClientTransactionKey, request: SIPRequest, destination: SIPDestination,
         report: @escaping @Sendable (ClientTransactionReport) -> Void) {
        self.machine = machine
        self.key = key
        self.request = request
        self.destination = destination
        self.report = report
    }

    var isInFlight: Bool {
        switch machine {
        case .invite(let m): m.state == .calling || m.state == .proceeding
        case .nonInvite(let m): m.state == .trying || m.state == .proceeding
        }
    }
}

extension TransactionLayer {
    /// Starts a client transaction (§17.1) for `request` towards `destination`; what happens
    /// to it is reported to `report`, synchronously on the thread that caused it (the event
    /// loop that read a response, the timer's wake-up), ending with `.terminated`.
    ///
    /// With `pushVia` (the default) the layer puts our Via with a new branch on top, as a
    /// UAC (§8.1.1.7) or a proxy (§16.6 step 8) must; without it the request's top Via must
    /// already carry a magic-cookie branch (a CANCEL or ACK built by the TU).
    @discardableResult
    public func start(_ request: SIPRequest, to destination: SIPDestination, pushVia: Bool = true,
                      report: @escaping @Sendable (ClientTransactionReport) -> Void) throws(SIPTransactionError) -> ClientTransactionHandle {
        var request = request
        var destination = destination
        guard request.method != .ack else {
            throw SIPTransactionError(.malformedRequest, "a client transaction needs a top Via with a branch, and not ACK")
        }
        let branch: String
        if pushVia {
            branch = MessageBuilding.newBranch()  // known: the Via we push is not parsed back
            MessageBuilding.pushVia(on: &request, transport: destination.transport,
                                    sentBy: transport.sentBy(for: destination), branch: branch)
        } else {
            guard let via = (try? request.topVia), let existing = via.branch else {
                throw SIPTransactionError(.malformedRequest, "a client transaction needs a top Via with a branch, and not ACK")
            }
            branch = existing
        }
        if let larger = MessageBuilding.congestionControlledTransport(for: &request, destination: destination) {
            destination.transport = larger
        }
        let key = ClientTransactionKey(branch: branch, method: request.method)
        var effects = Effects()
        let instant = now()
        let outcome: Result<UInt64, SIPTransactionError> = state.withLock { s in
            guard s.clientIndex[key] == nil else {
                return .failure(SIPTransactionError(.malformedRequest, "branch \(branch) already used by a client transaction"))
            }
            guard s.clients.count < s.limits.maxClientTransactions else {
                return .failure(SIPTransactionError(.overloaded, "client transaction table full", status: 503))
            }
            let id = s.makeID()
            var actions: [TransactionAction] = []
            let reliable = destination.transport.isReliable
            let machine: ClientEntry.Machine = request.method == .invite
                ? .invite(InviteClientTransaction(reliable: reliable, settings: s.settings, now: instant, actions: &actions))
                : .nonInvite(NonInviteClientTransaction(reliable: reliable, settings: s.settings, now: instant, actions: &actions))
            s.clients[id] = ClientEntry(machine: machine, key: key, request: request, destination: destination, report: report)
            s.clientIndex[key] = id
            s.performClient(id, actions, response: nil, at: instant, &effects)
            s.armWakeup(now: instant, &effects)
            return .success(id)
        }
        let id = try outcome.get()
        perform(effects)
        return ClientTransactionHandle(id: id, key: key, request: request, destination: destination, layer: self)
    }

    /// Starts a client transaction whose outcomes are read from an `AsyncStream` (a UAC in
    /// async code, tests). The proxy core uses the callback form.
    public func start(_ request: SIPRequest, to destination: SIPDestination,
                      pushVia: Bool = true) throws(SIPTransactionError) -> ClientTransaction {
        let (stream, continuation) = AsyncStream.makeStream(of: ClientTransactionOutcome.self, bufferingPolicy: .unbounded)
        let handle = try start(request, to: destination, pushVia: pushVia) { report in
            switch report {
            case .outcome(let outcome): continuation.yield(outcome)
            case .terminated: continuation.finish()
            }
        }
        return ClientTransaction(handle: handle, outcomes: stream)
    }

    /// §9.1: CANCEL a pending INVITE client transaction; deferred until a provisional
    /// response has arrived.
    func cancel(_ id: UInt64) {
        var effects = Effects()
        let instant = now()
        state.withLock { s in
            guard let entry = s.clients[id], case .invite(let machine) = entry.machine, !entry.cancelSent else { return }
            switch machine.state {
            case .calling:
                entry.cancelPending = true
                s.clients[id] = entry
            case .proceeding:
                entry.cancelSent = true
                s.clients[id] = entry
                s.sendCancel(for: entry, at: instant, &effects)
                s.handleClient(id, .cancelSent, response: nil, at: instant, &effects)
            default:
                break
            }
            s.armWakeup(now: instant, &effects)
        }
        perform(effects)
    }
}

extension LayerState {
    /// The CANCEL of §9.1, as a client transaction of its own whose outcome nobody reads.
    mutating func sendCancel(for entry: ClientEntry, at instant: SIPInstant, _ effects: inout Effects) {
        let cancel = MessageBuilding.cancel(for: entry.request)
        guard let branch = (try? cancel.topVia)?.branch else { return }
        let key = ClientTransactionKey(branch: branch, method: .cancel)
        guard clientIndex[key] == nil else { return }
        let id = makeID()
        var actions: [TransactionAction] = []
        let machine = NonInviteClientTransaction(reliable: entry.destination.transport.isReliable, settings: settings,
                                                 now: instant, actions: &actions)
        clients[id] = ClientEntry(machine: .nonInvite(machine), key: key, request: cancel, destination: entry.destination,
                                  report: { _ in })
        clientIndex[key] = id
        performClient(id, actions, response: nil, at: instant, &effects)
    }

    /// A response from the transport: to its client transaction (§17.1.3) or up as stray.
    mutating func receiveResponse(_ response: SIPResponse, from source: SIPMessageSource, at instant: SIPInstant,
                                  _ effects: inout Effects) {
        guard let key = ClientTransactionKey(response: response), let id = clientIndex[key] else {
            emit(.strayResponse(response, source: source), &effects)
            return
        }
        handleClient(id, .response(statusCode: response.statusCode), response: response, at: instant, &effects)
    }

    mutating func handleClient(_ id: UInt64, _ event: ClientTransactionEvent, response: SIPResponse?, at instant: SIPInstant,
                               _ effects: inout Effects) {
        guard let entry = clients[id] else { return }
        let actions: [TransactionAction]
        var cancelNow = false
        switch entry.machine {
        case .invite(var m):
            actions = m.handle(event, now: instant)
            entry.machine = .invite(m)
            if entry.cancelPending, m.state == .proceeding {
                entry.cancelPending = false
                entry.cancelSent = true
                cancelNow = true
            }
        case .nonInvite(var m):
            actions = m.handle(event, now: instant)
            entry.machine = .nonInvite(m)
        }
        clients[id] = entry
        if cancelNow { sendCancel(for: entry, at: instant, &effects) }
        performClient(id, actions, response: response, at: instant, &effects)
        if cancelNow { handleClient(id, .cancelSent, response: nil, at: instant, &effects) }
    }

    mutating func performClient(_ id: UInt64, _ actions: [TransactionAction], response: SIPResponse?, at instant: SIPInstant,
                                _ effects: inout Effects) {
        guard let entry = clients[id] else { return }
        var immediate: [TransactionTimer] = []
        defer { for timer in immediate { handleClient(id, .timerFired(timer), response: nil, at: instant, &effects) } }
        for action in actions {
            switch action {
            case .transmitRequest:
                effects.append(.sendRequest(entry.request, entry.destination, client: id))
            case .transmitACK:
                if let response {
                    let ack = MessageBuilding.ack(for: entry.request, response: response)
                    effects.append(.sendRequest(ack, entry.destination, client: id))
                }
            case .passToTU:
                if let response { effects.append(.report(entry.report, .outcome(.response(response)))) }
            case .startTimer(let timer, let duration):
                // A zero timer (J or K on a reliable transport, §17.2.2, §17.1.2.2) fires now,
                // not through the heap and a wake-up.
                if duration <= .zero { immediate.append(timer) } else { arm(id, timer, duration, at: instant) }
            case .reportTimeout where shuttingDown, .reportTransportError where shuttingDown:
                effects.append(.report(entry.report, .outcome(.failed(
                    SIPTransactionError(.shuttingDown, "the server is stopping", status: 503)))))
            case .reportTimeout(let timer):
                effects.append(.report(entry.report, .outcome(.failed(SIPTransactionError(.timeout, "Timer \(timer) fired", status: 408)))))
            case .reportTransportError:
                effects.append(.report(entry.report, .outcome(.failed(
                    SIPTransactionError(.transportError, "could not send to \(entry.destination)", status: 503)))))
            case .terminate:
                effects.append(.report(entry.report, .terminated))
                clients[id] = nil
                if clientIndex[entry.key] == id { clientIndex[entry.key] = nil }
            case .cancelTimer, .transmitResponse, .transmitTrying:
                break
            }
        }
    }
}
