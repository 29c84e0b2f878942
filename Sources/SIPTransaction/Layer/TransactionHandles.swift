import SIPCore
import Synchronization

/// What a client transaction reports to its TU, in order.
public enum ClientTransactionOutcome: Sendable {
    /// A response passed up by the machine: provisional, final, and for INVITE, 2xx
    /// retransmissions during RFC 6026's Accepted state.
    case response(SIPResponse)
    /// Timer B/F fired, or the transport failed (§8.1.3.1: treat as 408 / 503).
    case failed(SIPTransactionError)
}

/// What the layer reports to a client transaction's TU (the callback form of
/// ``TransactionLayer/start(_:to:pushVia:report:)``): outcomes in order, then `terminated`.
public enum ClientTransactionReport: Sendable {
    case outcome(ClientTransactionOutcome)
    /// The transaction is over; nothing more will be reported.
    case terminated

    /// True for a report that ends the wait for the peer: a final response, a failure, or the
    /// end (which follows the others; a ``ReleaseOnce`` taken for the wait ignores it then).
    public var endsTheWait: Bool {
        if case .outcome(.response(let response)) = self { return response.statusCode >= 200 }
        return true
    }
}

/// Gives back, once, something held while a client transaction waits for its peer (a slot
/// of a per-hop or per-kind limit): called from each report that ``ClientTransactionReport/endsTheWait``
/// and from the path where the transaction could not start, it runs `release` the first time.
public final class ReleaseOnce: Sendable {
    private let release: @Sendable () -> Void
    private let done = Atomic(false)
    public init(_ release: @escaping @Sendable () -> Void) { self.release = release }
    public func callAsFunction() {
        if !done.exchange(true, ordering: .relaxed) { release() }
    }
}

/// A client transaction started with a callback: its identity and CANCEL.
public struct ClientTransactionHandle: Sendable {
    public let id: UInt64
    public let key: ClientTransactionKey
    /// The request as sent, our Via on top.
    public let request: SIPRequest
    public let destination: SIPDestination
    let layer: TransactionLayer

    /// Cancels a pending INVITE (§9.1): sends CANCEL once a provisional response has
    /// arrived (at once if one has). No effect on non-INVITE or answered transactions.
    public func cancel() {
        layer.cancel(id)
    }
}

/// A client transaction as an async TU sees it: the request as sent (with our Via) and the
/// stream of what happened. `outcomes` has one consumer; it finishes when the transaction
/// terminates.
public struct ClientTransaction: Sendable {
    public let handle: ClientTransactionHandle
    public let outcomes: AsyncStream<ClientTransactionOutcome>

    public var id: UInt64 { handle.id }
    public var key: ClientTransactionKey { handle.key }
    /// The request as sent, our Via on top.
    public var request: SIPRequest { handle.request }
    public var destination: SIPDestination { handle.destination }

    /// Waits for the final response, skipping provisional ones (consumes `outcomes`).
    /// Timeouts and transport errors throw (§8.1.3.1).
    public func finalResponse() async throws(SIPTransactionError) -> SIPResponse {
        for await outcome in outcomes {
            switch outcome {
            case .response(let response) where response.statusCode >= 200:
                return response
            case .response:
                continue
            case .failed(let error):
                throw error
            }
        }
        throw SIPTransactionError(.noSuchTransaction, "transaction ended without a final response")
    }

    /// Cancels a pending INVITE (§9.1), see ``ClientTransactionHandle/cancel()``.
    public func cancel() {
        handle.cancel()
    }
}

/// A server transaction as its TU (the handler) sees it.
public struct ServerTransaction: Sendable, Hashable {
    public let id: UInt64
    public let key: ServerTransactionKey
    public let request: SIPRequest
    public let source: SIPMessageSource
    /// The To tag this transaction puts in its responses (§8.2.6.2) when the request had none.
    public let toTag: String
    let layer: TransactionLayer

    public static func == (a: ServerTransaction, b: ServerTransaction) -> Bool { a.id == b.id && a.layer === b.layer }
    public func hash(into hasher: inout Hasher) { hasher.combine(id) }

    /// A response to the request (§8.2.6): Via, From, To, Call-ID, CSeq copied; the
    /// transaction's To tag added for anything but 100 when the request's To had none.
    public func makeResponse(_ statusCode: Int, reasonPhrase: String? = nil) -> SIPResponse {
        SIPResponse(responding: request, statusCode: statusCode, reasonPhrase: reasonPhrase,
                    toTag: statusCode == 100 ? nil : toTag)
    }

    /// Sends `response` through the transaction (retransmitted as §17.2 says).
    public func respond(_ response: SIPResponse) throws(SIPTransactionError) {
        try layer.respond(response, in: id)
        layer.observer?.responded(response, to: request)
    }

    /// Sends a final answer to a non-INVITE request and ends the transaction at once, keeping
    /// no Completed state (§17.2.2 keeps one for Timer J, 32 s over UDP, to answer
    /// retransmissions): a retransmission is then a new request and gets the same answer
    /// again. For answers that cost nothing to repeat and change nothing (a digest challenge,
    /// any refusal the server makes itself, its own answer to OPTIONS), so that a flood of
    /// requests nobody authenticated cannot fill the transaction table for everybody (a
    /// stateless reply, as Kamailio's `sl` module gives). Anything else, an INVITE's answer
    /// or a 1xx, goes as ``respond(_:)``.
    public func respondAndEnd(_ response: SIPResponse) throws(SIPTransactionError) {
        try layer.respondAndEnd(response, in: id)
        layer.observer?.responded(response, to: request)
    }

    /// Builds and sends a response, adding `headers`.
    public func respond(_ statusCode: Int, reasonPhrase: String? = nil, headers: [(String, String)] = [],
                        body: [UInt8] = []) throws(SIPTransactionError) {
        var response = makeResponse(statusCode, reasonPhrase: reasonPhrase)
        for (name, value) in headers { response.headers.append(name, value) }
        if !body.isEmpty {
            response.body = body
            response.headers.replace("Content-Length", with: "\(body.count)")
        }
        try respond(response)
    }
}

/// What the transaction layer hands up to the transaction user (§17: "TU").
public enum TransactionUserEvent: Sendable {
    /// A new request, seen once however often it is retransmitted.
    case request(ServerTransaction)
    /// A CANCEL matched `invite` before its final response (§9.2). The layer has already
    /// answered the CANCEL with 200; the TU should answer the INVITE with 487 (a UAS) or
    /// cancel its branches (a proxy, §16.10).
    case cancel(SIPRequest, invite: ServerTransaction)
    /// An ACK that is not part of a non-2xx transaction: the ACK for a 2xx, passed up from
    /// RFC 6026's Accepted state (`invite` set), or matching nothing (nil: end-to-end ACK a
    /// proxy forwards statelessly, §16.11).
    case ack(SIPRequest, source: SIPMessageSource, invite: ServerTransaction?)
    /// A response that matched no client transaction (§18.1.2: a proxy may forward it).
    case strayResponse(SIPResponse, source: SIPMessageSource)
    /// A server transaction ended in Timer H (no ACK) or a transport error (§17.2.4).
    case serverTransactionFailed(ServerTransaction, SIPTransactionError)
}
