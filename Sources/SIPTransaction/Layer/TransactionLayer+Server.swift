import Logging
import SIPCore
import SIPTransport

/// One server transaction held by the layer.
/// A class, touched only under the layer's lock (see ``ClientEntry``).
final class ServerEntry {
    enum Machine {
        case invite(InviteServerTransaction)
        case nonInvite(NonInviteServerTransaction)
    }
    var machine: Machine
    let handle: ServerTransaction
    var lastResponse: SIPResponse?

    init(machine: Machine, handle: ServerTransaction) {
        self.machine = machine
        self.handle = handle
    }

    var isInFlight: Bool {
        switch machine {
        case .invite(let m): m.state == .proceeding
        case .nonInvite(let m): m.state == .trying || m.state == .proceeding
        }
    }
}

extension TransactionLayer {
    /// An inbound message from the transport (§18.1.2, §18.2.1), handled to completion on
    /// the caller's thread.
    public func receive(_ message: SIPMessage, from source: SIPMessageSource) {
        var effects = Effects()
        let instant = now()
        state.withLock { s in
            switch message {
            case .request(let request): s.receiveRequest(request, from: source, layer: self, at: instant, &effects)
            case .response(let response): s.receiveResponse(response, from: source, at: instant, &effects)
            }
            s.armWakeup(now: instant, &effects)
        }
        perform(effects)
    }

    /// Inbound messages in arrival order.
    public func receive(_ batch: [(SIPMessage, SIPMessageSource)]) {
        for (message, source) in batch { receive(message, from: source) }
    }

    /// The TU's response for a server transaction.
    func respond(_ response: SIPResponse, in id: UInt64) throws(SIPTransactionError) {
        var effects = Effects()
        let instant = now()
        let outcome: Bool? = state.withLock { s in
            guard s.servers[id] != nil else { return nil }
            let sent = s.respondNow(response, in: id, at: instant, &effects)
            s.armWakeup(now: instant, &effects)
            return sent
        }
        perform(effects)
        guard let outcome else {
            throw SIPTransactionError(.noSuchTransaction, "the server transaction has ended")
        }
        if !outcome {
            throw SIPTransactionError(.responseNotAllowed, "\(response.statusCode) not allowed in this transaction state")
        }
    }
}

extension TransactionLayer {
    /// The TU's final answer to a non-INVITE request, or its refusal (3xx-6xx) of an INVITE,
    /// sent with no Completed state kept (``ServerTransaction/respondAndEnd(_:)``), as a
    /// stateless server sends it (§8.2.7, §16.11): a retransmitted request gets a fresh
    /// answer, and the answer is never retransmitted by us. Over UDP an INVITE's Completed
    /// state would send it eleven times to an address nobody verified (Timer G until Timer
    /// H), twenty-five times the bytes of the INVITE that asked for it. Its ACK then matches
    /// nothing and goes to the TU as a stray ACK. Anything else goes as ``respond(_:in:)``.
    func respondAndEnd(_ response: SIPResponse, in id: UInt64) throws(SIPTransactionError) {
        var effects = Effects()
        let ended: Bool? = state.withLock { s in
            guard let entry = s.servers[id] else { return nil }
            guard response.statusCode >= 200, entry.isInFlight else { return false }
            if case .invite = entry.machine, response.statusCode < 300 { return false }
            effects.append(.sendResponse(response, entry.handle.source, server: nil))
            s.removeServer(id, entry.handle)
            return true
        }
        switch ended {
        case nil: throw SIPTransactionError(.noSuchTransaction, "the server transaction has ended")
        case false?: try respond(response, in: id)
        case true?: perform(effects)
        }
    }
}

extension LayerState {
    /// §17.2.3 matching; a new request creates a transaction and goes to the TU once.
    mutating func receiveRequest(_ request: SIPRequest, from source: SIPMessageSource, layer: TransactionLayer,
                                 at instant: SIPInstant, _ effects: inout Effects) {
        guard let key = ServerTransactionKey(request: request), request.callID != nil,
              let cseq = (try? request.cseq) else {
            rejectStatelessly(request, from: source, status: 400, reason: "missing Via, CSeq or Call-ID", &effects)
            return
        }
        guard cseq.method == request.method else {
            rejectStatelessly(request, from: source, status: 400, reason: "CSeq method does not match the request method", &effects)
            return
        }
        if request.method == .ack {
            if let id = serverIndex[key], let entry = servers[id], ackMatches(request, entry) {
                handleServer(id, .ack, at: instant, &effects, ack: request, ackSource: source)
            } else {
                emit(.ack(request, source: source, invite: nil), &effects)
            }
            return
        }
        if let id = serverIndex[key] {
            handleServer(id, .requestRetransmission, at: instant, &effects)
            return
        }
        guard servers.count < limits.maxServerTransactions else {
            rejectStatelessly(request, from: source, status: 503, reason: "server transaction table full", &effects,
                              retryAfter: limits.retryAfter)
            return
        }
        let host = source.remote.host
        let held = serversBySource[host, default: 0]
        guard held < limits.maxServerTransactionsPerSource else {
            rejectStatelessly(request, from: source, status: 503, reason: "the source holds its most server transactions", &effects,
                              retryAfter: limits.retryAfter)
            return
        }
        serversBySource[host] = held + 1
        let id = makeID()
        let handle = ServerTransaction(id: id, key: key, request: request, source: source,
                                       toTag: request.to?.tag ?? MessageBuilding.newTag(), layer: layer)
        var actions: [TransactionAction] = []
        let reliable = source.transport.isReliable
        let machine: ServerEntry.Machine = request.method == .invite
            ? .invite(InviteServerTransaction(reliable: reliable, settings: settings, now: instant, actions: &actions))
            : .nonInvite(NonInviteServerTransaction(reliable: reliable, settings: settings, now: instant, actions: &actions))
        servers[id] = ServerEntry(machine: machine, handle: handle)
        serverIndex[key] = id
        if request.method == .cancel {
            answerCancel(handle, at: instant, &effects)
        } else {
            performServer(id, actions, at: instant, &effects)
        }
    }

    /// Forgets a server transaction: the table, the index and its source's count.
    mutating func removeServer(_ id: UInt64, _ handle: ServerTransaction) {
        guard servers.removeValue(forKey: id) != nil else { return }
        if serverIndex[handle.key] == id { serverIndex[handle.key] = nil }
        let host = handle.source.remote.host
        if let held = serversBySource[host] {
            if held <= 1 { serversBySource[host] = nil } else { serversBySource[host] = held - 1 }
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
    private mutating func answerCancel(_ cancel: ServerTransaction, at instant: SIPInstant, _ effects: inout Effects) {
        let inviteID = serverIndex[cancel.key.matchingInvite]
        let invite = inviteID.flatMap { servers[$0] }
        let response = cancel.makeResponse(invite == nil ? 481 : 200)
        respondNow(response, in: cancel.id, at: instant, &effects)
        if let invite, invite.isInFlight {
            emit(.cancel(cancel.request, invite: invite.handle), &effects)
        }
    }

    @discardableResult
    mutating func respondNow(_ response: SIPResponse, in id: UInt64, at instant: SIPInstant, _ effects: inout Effects) -> Bool {
        guard let entry = servers[id] else { return false }
        let actions: [TransactionAction]
        let event = ServerTransactionEvent.tuResponse(statusCode: response.statusCode)
        var machine = entry.machine
        switch machine {
        case .invite(var m):
            actions = m.handle(event, now: instant)
            machine = .invite(m)
        case .nonInvite(var m):
            actions = m.handle(event, now: instant)
            machine = .nonInvite(m)
        }
        // A response the machine does not send leaves the transaction as it was.
        guard actions.contains(.transmitResponse) else { return false }
        entry.machine = machine
        entry.lastResponse = response
        servers[id] = entry
        performServer(id, actions, at: instant, &effects)
        return true
    }

    mutating func handleServer(_ id: UInt64, _ event: ServerTransactionEvent, at instant: SIPInstant, _ effects: inout Effects,
                               ack: SIPRequest? = nil, ackSource: SIPMessageSource? = nil) {
        guard let entry = servers[id] else { return }
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
        performServer(id, actions, at: instant, &effects, ack: ack, ackSource: ackSource)
    }

    private mutating func performServer(_ id: UInt64, _ actions: [TransactionAction], at instant: SIPInstant,
                                        _ effects: inout Effects, ack: SIPRequest? = nil, ackSource: SIPMessageSource? = nil) {
        guard let entry = servers[id] else { return }
        let handle = entry.handle
        var immediate: [TransactionTimer] = []
        defer { for timer in immediate { handleServer(id, .timerFired(timer), at: instant, &effects) } }
        for action in actions {
            switch action {
            case .transmitResponse, .transmitTrying:
                if let response = entry.lastResponse {
                    effects.append(.sendResponse(response, handle.source, server: id))
                }
            case .passToTU:
                if let ack {
                    emit(.ack(ack, source: ackSource ?? handle.source, invite: handle), &effects)
                } else {
                    emit(.request(handle), &effects)
                }
            case .startTimer(let timer, let duration):
                // A zero timer (J or K on a reliable transport, §17.2.2, §17.1.2.2) fires now,
                // not through the heap and a wake-up.
                if duration <= .zero { immediate.append(timer) } else { arm(id, timer, duration, at: instant) }
            case .reportTimeout(let timer):
                emit(.serverTransactionFailed(handle, SIPTransactionError(.timeout, "Timer \(timer) fired")), &effects)
            case .reportTransportError:
                emit(.serverTransactionFailed(handle, SIPTransactionError(.transportError, "could not send to \(handle.source)")),
                     &effects)
            case .terminate:
                removeServer(id, handle)
            case .cancelTimer, .transmitRequest, .transmitACK:
                break
            }
        }
    }

    /// A request no transaction can be made for: answered statelessly if a response can be
    /// routed (§8.2, never to ACK), else dropped. 400 for a malformed one, 503 with
    /// Retry-After when the table is full.
    private func rejectStatelessly(_ request: SIPRequest, from source: SIPMessageSource, status: Int, reason: String,
                                   _ effects: inout Effects, retryAfter: Int? = nil) {
        effects.append(.log("rejecting request", ["sip.reason": "\(reason)", "connection.peer": "\(source)",
                                                   "sip.status": "\(status)"]))
        guard request.method != .ack, (try? request.topVia) != nil else { return }
        let phrase = status == 400 ? "Bad Request (\(reason))" : "Service Unavailable"
        var response = SIPResponse(responding: request, statusCode: status, reasonPhrase: phrase)
        if let retryAfter { response.headers.append("Retry-After", "\(retryAfter)") }
        effects.append(.sendResponse(response, source, server: nil))
    }
}
