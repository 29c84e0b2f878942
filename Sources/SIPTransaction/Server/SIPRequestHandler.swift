import SIPCore

/// What a role (registrar, presence agent, proxy core) plugs into `SIPServer`: it gets
/// each new server transaction once and answers it (`transaction.respond`) or proxies it
/// (starting client transactions on the transaction's layer with `TransactionLayer.start`).
///
/// Every method is called synchronously on the event loop that read the message (run to
/// completion, ARCHITECTURE.md): answer at once, or hand work that must wait (a store
/// commit) to a service and answer when it completes. Never block.
///
/// Only `handle` is required; the others have defaults that suit a UAS.
public protocol SIPRequestHandler: Sendable {
    /// A new request (never a retransmission, never ACK or CANCEL).
    func handle(_ transaction: ServerTransaction)
    /// CANCEL for an INVITE still unanswered (§9.2); the layer has already sent 200 to the
    /// CANCEL. Default: answer the INVITE 487 Request Terminated (a UAS).
    func handleCancel(_ cancel: SIPRequest, for invite: ServerTransaction)
    /// ACK for a 2xx (`invite` set) or matching no transaction (nil). Default: ignore.
    func handleACK(_ ack: SIPRequest, source: SIPMessageSource, invite: ServerTransaction?)
    /// A response that matched no client transaction. Default: drop (§18.1.2).
    func handleStrayResponse(_ response: SIPResponse, source: SIPMessageSource)
    /// A server transaction ended in Timer H or a transport error. Default: ignore.
    func transactionFailed(_ transaction: ServerTransaction, error: SIPTransactionError)
}

extension SIPRequestHandler {
    public func handleCancel(_ cancel: SIPRequest, for invite: ServerTransaction) {
        try? invite.respond(487)
    }
    public func handleACK(_ ack: SIPRequest, source: SIPMessageSource, invite: ServerTransaction?) {}
    public func handleStrayResponse(_ response: SIPResponse, source: SIPMessageSource) {}
    public func transactionFailed(_ transaction: ServerTransaction, error: SIPTransactionError) {}
}

/// A handler from a synchronous closure, run on the event loop.
public struct SIPClosureHandler: SIPRequestHandler {
    let body: @Sendable (ServerTransaction) -> Void
    public init(_ body: @escaping @Sendable (ServerTransaction) -> Void) { self.body = body }
    public func handle(_ transaction: ServerTransaction) { body(transaction) }
}

/// A handler from an async closure, for tests and small programs: one Task per request, so
/// not for a hot path.
public struct SIPAsyncClosureHandler: SIPRequestHandler {
    let body: @Sendable (ServerTransaction) async -> Void
    public init(_ body: @escaping @Sendable (ServerTransaction) async -> Void) { self.body = body }
    public func handle(_ transaction: ServerTransaction) {
        let body = self.body
        Task { await body(transaction) }
    }
}
