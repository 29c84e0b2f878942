import SIPCore

/// A transport the server assembly can start and stop: the transaction layer's three
/// operations plus the listeners' life cycle. `SIPTransportAdapter` implements it over
/// SIPTransport; tests implement it with a fake.
public protocol SIPServerTransport: TransactionTransport {
    /// Opens the listeners (if not yet open) and delivers every inbound message (after
    /// framing and the §18.2.1 Via fix-ups) to `deliver`, one at a time, until `shutdown`.
    func run(deliver: @escaping @Sendable (SIPMessage, SIPMessageSource) async -> Void) async throws
    /// Closes the listeners (no new inbound requests); open connections may stay for the
    /// responses of in-flight transactions.
    func stopListening() async
    /// Closes everything.
    func shutdown() async
    /// Host names and addresses that are "us" (for OPTIONS addressed to the server).
    var localHosts: Set<String> { get }
    /// As ``run(deliver:)``, but hands over, in arrival order, every message that arrived while
    /// the previous batch was being delivered (one hop into the transaction layer per burst
    /// instead of one per message). By default: ``run(deliver:)``, one message per batch.
    func runBatches(deliver: @escaping @Sendable ([(SIPMessage, SIPMessageSource)]) async -> Void) async throws
}

extension SIPServerTransport {
    public func runBatches(deliver: @escaping @Sendable ([(SIPMessage, SIPMessageSource)]) async -> Void) async throws {
        try await run { message, source in await deliver([(message, source)]) }
    }
}
