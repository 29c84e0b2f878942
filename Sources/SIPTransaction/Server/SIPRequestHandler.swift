import SIPCore

/// What a role (registrar, presence agent, proxy core) plugs into `SIPServer`: it gets
/// each new server transaction once and answers it (`transaction.respond`) or proxies it
/// (starting client transactions on `transaction`'s layer with `TransactionLayer.start`).
///
/// Only `handle` is required; the others have defaults that suit a UAS.
public protocol SIPRequestHandler: Sendable {
    /// A new request (never a retransmission, never ACK or CANCEL).
    func handle(_ transaction: ServerTransaction) async
    /// CANCEL for an INVITE still unanswered (§9.2); the layer has already sent 200 to the
    /// CANCEL. Default: answer the INVITE 487 Request Terminated (a UAS).
    func handleCancel(_ cancel: SIPRequest, for invite: ServerTransaction) async
    /// ACK for a 2xx (`invite` set) or matching no transaction (nil). Default: ignore.
    func handleACK(_ ack: SIPRequest, source: SIPMessageSource, invite: ServerTransaction?) async
    /// A response that matched no client transaction. Default: drop (§18.1.2).
    func handleStrayResponse(_ response: SIPResponse, source: SIPMessageSource) async
    /// A server transaction ended in Timer H or a transport error. Default: ignore.
    func transactionFailed(_ transaction: ServerTransaction, error: SIPTransactionError) async
}

extension SIPRequestHandler {
    public func handleCancel(_ cancel: SIPRequest, for invite: ServerTransaction) async {
        try? await invite.respond(487)
    }
    public func handleACK(_ ack: SIPRequest, source: SIPMessageSource, invite: ServerTransaction?) async {}
    public func handleStrayResponse(_ response: SIPResponse, source: SIPMessageSource) async {}
    public func transactionFailed(_ transaction: ServerTransaction, error: SIPTransactionError) async {}
}

/// A handler from a closure, for tests and small programs.
public struct SIPClosureHandler: SIPRequestHandler {
    let body: @Sendable (ServerTransaction) async -> Void
    public init(_ body: @escaping @Sendable (ServerTransaction) async -> Void) { self.body = body }
    public func handle(_ transaction: ServerTransaction) async { await body(transaction) }
}
