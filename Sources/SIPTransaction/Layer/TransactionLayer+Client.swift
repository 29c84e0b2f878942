import Logging
import SIPCore
import SIPTransport

/// One client transaction held by the layer.
struct ClientEntry {
    enum Machine {
        case invite(InviteClientTransaction)
        case nonInvite(NonInviteClientTransaction)
    }
    var machine: Machine
    let key: ClientTransactionKey
    let request: SIPRequest
    let destination: SIPDestination
    let outcomes: AsyncStream<ClientTransactionOutcome>.Continuation
    var cancelPending = false
    var cancelSent = false

    var isInFlight: Bool {
        switch machine {
        case .invite(let m): m.state == .calling || m.state == .proceeding
        case .nonInvite(let m): m.state == .trying || m.state == .proceeding
        }
    }
}

extension TransactionLayer {
    /// Starts a client transaction (§17.1) for `request` towards `destination`.
    ///
    /// With `pushVia` (the default) the layer puts our Via with a new branch on top, as a
    /// UAC (§8.1.1.7) or a proxy (§16.6 step 8) must; without it the request's top Via must
    /// already carry a magic-cookie branch (a CANCEL or ACK built by the TU).
    public func start(_ request: SIPRequest, to destination: SIPDestination,
                      pushVia: Bool = true) throws(SIPTransactionError) -> ClientTransaction {
        var request = request
        if pushVia {
            MessageBuilding.pushVia(on: &request, transport: destination.transport,
                                    sentBy: transport.sentBy(for: destination), branch: MessageBuilding.newBranch())
        }
        guard let via = (try? request.topVia), let branch = via.branch, request.method != .ack else {
            throw SIPTransactionError(.malformedRequest, "a client transaction needs a top Via with a branch, and not ACK")
        }
        let key = ClientTransactionKey(branch: branch, method: request.method)
        guard clientIndex[key] == nil else {
            throw SIPTransactionError(.malformedRequest, "branch \(branch) already used by a client transaction")
        }
        let id = makeID()
        let (stream, continuation) = AsyncStream.makeStream(of: ClientTransactionOutcome.self, bufferingPolicy: .unbounded)
        let instant = now()
        var actions: [TransactionAction] = []
        let reliable = destination.transport.isReliable
        let machine: ClientEntry.Machine = request.method == .invite
            ? .invite(InviteClientTransaction(reliable: reliable, settings: settings, now: instant, actions: &actions))
            : .nonInvite(NonInviteClientTransaction(reliable: reliable, settings: settings, now: instant, actions: &actions))
        clients[id] = ClientEntry(machine: machine, key: key, request: request, destination: destination, outcomes: continuation)
        clientIndex[key] = id
        performClient(id, actions, response: nil, at: instant)
        return ClientTransaction(id: id, key: key, request: request, destination: destination, outcomes: stream, layer: self)
    }

    /// §9.1: CANCEL a pending INVITE client transaction; deferred until a provisional
    /// response has arrived.
    func cancel(_ id: UInt64) {
        guard var entry = clients[id], case .invite(let machine) = entry.machine, !entry.cancelSent else { return }
        switch machine.state {
        case .calling:
            entry.cancelPending = true
            clients[id] = entry
        case .proceeding:
            entry.cancelSent = true
            clients[id] = entry
            sendCancel(for: entry)
        default:
            break
        }
    }

    private func sendCancel(for entry: ClientEntry) {
        let cancel = MessageBuilding.cancel(for: entry.request)
        do {
            _ = try start(cancel, to: entry.destination, pushVia: false)
        } catch {
            logger.warning("could not send CANCEL", metadata: ["sip.error": "\(error)"])
        }
    }

    /// A response from the transport: to its client transaction (§17.1.3) or up as stray.
    func receiveResponse(_ response: SIPResponse, from source: SIPMessageSource) {
        guard let key = ClientTransactionKey(response: response), let id = clientIndex[key] else {
            eventSink.yield(.strayResponse(response, source: source))
            return
        }
        handleClient(id, .response(statusCode: response.statusCode), response: response, at: now())
    }

    func handleClient(_ id: UInt64, _ event: ClientTransactionEvent, response: SIPResponse?, at instant: SIPInstant) {
        guard var entry = clients[id] else { return }
        let actions: [TransactionAction]
        switch entry.machine {
        case .invite(var m):
            actions = m.handle(event, now: instant)
            entry.machine = .invite(m)
            if entry.cancelPending, m.state == .proceeding {
                entry.cancelPending = false
                entry.cancelSent = true
                sendCancel(for: entry)
            }
        case .nonInvite(var m):
            actions = m.handle(event, now: instant)
            entry.machine = .nonInvite(m)
        }
        clients[id] = entry
        performClient(id, actions, response: response, at: instant)
    }

    private func performClient(_ id: UInt64, _ actions: [TransactionAction], response: SIPResponse?, at instant: SIPInstant) {
        guard let entry = clients[id] else { return }
        for action in actions {
            switch action {
            case .transmitRequest:
                transport.send(entry.request, to: entry.destination, onFailure: failureHandler(client: id))
            case .transmitACK:
                if let response {
                    let ack = MessageBuilding.ack(for: entry.request, response: response)
                    transport.send(ack, to: entry.destination, onFailure: failureHandler(client: id))
                }
            case .passToTU:
                if let response { entry.outcomes.yield(.response(response)) }
            case .startTimer(let timer, let duration):
                arm(id, timer, duration, at: instant)
            case .reportTimeout(let timer):
                entry.outcomes.yield(.failed(SIPTransactionError(.timeout, "Timer \(timer) fired", status: 408)))
            case .reportTransportError:
                entry.outcomes.yield(.failed(SIPTransactionError(.transportError, "could not send to \(entry.destination)", status: 503)))
            case .terminate:
                entry.outcomes.finish()
                clients[id] = nil
                if clientIndex[entry.key] == id { clientIndex[entry.key] = nil }
            case .cancelTimer, .transmitResponse, .transmitTrying:
                break
            }
        }
    }

    nonisolated func failureHandler(client id: UInt64) -> @Sendable (SIPTransactionError) -> Void {
        { [weak self] _ in
            guard let self else { return }
            Task { await self.handleClient(id, .transportError, response: nil, at: self.now()) }
        }
    }
}
