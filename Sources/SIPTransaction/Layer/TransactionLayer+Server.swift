import Logging
import SIPCore
import SIPTransport

/// One server transaction held by the layer.
struct ServerEntry {
    enum Machine {
        case invite(InviteServerTransaction)
        case nonInvite(NonInviteServerTransaction)
    }
    var machine: Machine
    let handle: ServerTransaction
    var lastResponse: SIPResponse?

    var isInFlight: Bool {
        switch machine {
        case .invite(let m): m.state == .proceeding
        case .nonInvite(let m): m.state == .trying || m.state == .proceeding
        }
    }
}

extension TransactionLayer {
    /// An inbound message from the transport (§18.1.2, §18.2.1).
    public func receive(_ message: SIPMessage, from source: SIPMessageSource) {
        switch message {
        case .request(let request): receiveRequest(request, from: source)
        case .response(let response): receiveResponse(response, from: source)
        }
    }

    /// Inbound messages in arrival order, handled in one turn of the layer.
    public func receive(_ batch: [(SIPMessage, SIPMessageSource)]) {
        for (message, source) in batch { receive(message, from: source) }
    }

    /// §17.2.3 matching; a new request creates a transaction and goes to the TU once.
    func receiveRequest(_ request: SIPRequest, from source: SIPMessageSource) {
        guard let key = ServerTransactionKey(request: request), request.callID != nil,
              let cseq = (try? request.cseq) else {
            rejectStatelessly(request, from: source, reason: "missing Via, CSeq or Call-ID")
            return
        }
        guard cseq.method == request.method else {
            rejectStatelessly(request, from: source, reason: "CSeq method does not match the request method")
            return
        }
        let instant = now()
        if request.method == .ack {
            if let id = serverIndex[key], let entry = servers[id], ackMatches(request, entry) {
                handleServer(id, .ack, at: instant, ack: request, ackSource: source)
            } else {
                eventSink.yield(.ack(request, source: source, invite: nil))
            }
            return
        }
        if let id = serverIndex[key] {
            handleServer(id, .requestRetransmission, at: instant)
            return
        }
        let id = makeID()
        let handle = ServerTransaction(id: id, key: key, request: request, source: source,
                                       toTag: request.to?.tag ?? MessageBuilding.newTag(), layer: self)
        var actions: [TransactionAction] = []
        let reliable = source.transport.isReliable
        let machine: ServerEntry.Machine = request.method == .invite
            ? .invite(InviteServerTransaction(reliable: reliable, settings: settings, now: instant, actions: &actions))
            : .nonInvite(NonInviteServerTransaction(reliable: reliable, settings: settings, now: instant, actions: &actions))
        servers[id] = ServerEntry(machine: machine, handle: handle)
        serverIndex[key] = id
        if request.method == .cancel {
            answerCancel(handle, at: instant)
        } else {
            performServer(id, actions, at: instant)
        }
    }

    /// RFC 2543 ACKs carry our response's To tag (§17.2.3); magic-cookie ones match by key.
    private func ackMatches(_ ack: SIPRequest, _ entry: ServerEntry) -> Bool {
        guard entry.handle.key.isRFC2543 else { return true }
        let ackTag = ack.to?.tag
        return ackTag == entry.lastResponse?.to?.tag || ackTag == entry.handle.request.to?.tag
    }

    /// §9.2: 200 to a CANCEL that matches an INVITE (and the TU hears of it while the INVITE
    /// has no final response), 481 otherwise.
    private func answerCancel(_ cancel: ServerTransaction, at instant: SIPInstant) {
        let inviteID = serverIndex[cancel.key.matchingInvite]
        let invite = inviteID.flatMap { servers[$0] }
        let response = cancel.makeResponse(invite == nil ? 481 : 200)
        respondNow(response, in: cancel.id, at: instant)
        if let invite, invite.isInFlight {
            eventSink.yield(.cancel(cancel.request, invite: invite.handle))
        }
    }

    /// The TU's response for a server transaction.
    func respond(_ response: SIPResponse, in id: UInt64) throws(SIPTransactionError) {
        guard servers[id] != nil else {
            throw SIPTransactionError(.noSuchTransaction, "the server transaction has ended")
        }
        if !respondNow(response, in: id, at: now()) {
            throw SIPTransactionError(.responseNotAllowed, "\(response.statusCode) not allowed in this transaction state")
        }
    }

    @discardableResult
    private func respondNow(_ response: SIPResponse, in id: UInt64, at instant: SIPInstant) -> Bool {
        guard var entry = servers[id] else { return false }
        let actions: [TransactionAction]
        let event = ServerTransactionEvent.tuResponse(statusCode: response.statusCode)
        switch entry.machine {
        case .invite(var m):
            actions = m.handle(event, now: instant)
            entry.machine = .invite(m)
        case .nonInvite(var m):
            actions = m.handle(event, now: instant)
            entry.machine = .nonInvite(m)
        }
        guard actions.contains(.transmitResponse) else { return false }
        entry.lastResponse = response
        servers[id] = entry
        performServer(id, actions, at: instant)
        return true
    }

    func handleServer(_ id: UInt64, _ event: ServerTransactionEvent, at instant: SIPInstant,
                      ack: SIPRequest? = nil, ackSource: SIPMessageSource? = nil) {
        guard var entry = servers[id] else { return }
        let actions: [TransactionAction]
        switch entry.machine {
        case .invite(var m):
            actions = m.handle(event, now: instant)
            entry.machine = .invite(m)
        case .nonInvite(var m):
            actions = m.handle(event, now: instant)
            entry.machine = .nonInvite(m)
        }
        if actions.contains(.transmitTrying) {
            entry.lastResponse = MessageBuilding.trying(for: entry.handle.request)
        }
        servers[id] = entry
        performServer(id, actions, at: instant, ack: ack, ackSource: ackSource)
    }

    private func performServer(_ id: UInt64, _ actions: [TransactionAction], at instant: SIPInstant,
                               ack: SIPRequest? = nil, ackSource: SIPMessageSource? = nil) {
        guard let entry = servers[id] else { return }
        let handle = entry.handle
        for action in actions {
            switch action {
            case .transmitResponse, .transmitTrying:
                if let response = entry.lastResponse {
                    transport.send(response, replyingTo: handle.source, onFailure: failureHandler(server: id))
                }
            case .passToTU:
                if let ack {
                    eventSink.yield(.ack(ack, source: ackSource ?? handle.source, invite: handle))
                } else {
                    eventSink.yield(.request(handle))
                }
            case .startTimer(let timer, let duration):
                arm(id, timer, duration, at: instant)
            case .reportTimeout(let timer):
                eventSink.yield(.serverTransactionFailed(handle, SIPTransactionError(.timeout, "Timer \(timer) fired")))
            case .reportTransportError:
                eventSink.yield(.serverTransactionFailed(handle, SIPTransactionError(.transportError, "could not send to \(handle.source)")))
            case .terminate:
                servers[id] = nil
                if serverIndex[handle.key] == id { serverIndex[handle.key] = nil }
            case .cancelTimer, .transmitRequest, .transmitACK:
                break
            }
        }
    }

    /// A request no transaction can be made for: 400 if a response can be routed (§8.2,
    /// never to ACK), else dropped.
    private func rejectStatelessly(_ request: SIPRequest, from source: SIPMessageSource, reason: String) {
        logger.debug("rejecting request", metadata: ["sip.reason": "\(reason)", "connection.peer": "\(source)"])
        guard request.method != .ack, (try? request.topVia) != nil else { return }
        let response = SIPResponse(responding: request, statusCode: 400, reasonPhrase: "Bad Request (\(reason))")
        transport.send(response, replyingTo: source) { _ in }
    }

    nonisolated func failureHandler(server id: UInt64) -> @Sendable (SIPTransactionError) -> Void {
        { [weak self] _ in
            guard let self else { return }
            Task { await self.handleServer(id, .transportError, at: self.now()) }
        }
    }
}
