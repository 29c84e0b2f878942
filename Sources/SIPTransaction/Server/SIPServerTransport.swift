import SIPCore

/// A transport the server assembly can start and stop: the transaction layer's three
/// operations plus the listeners' life cycle. `SIPTransportAdapter` implements it over
/// SIPTransport; tests implement it with a fake.
public protocol SIPServerTransport: TransactionTransport {
    /// Opens the listeners (if not yet open) and delivers every inbound message (after
    /// framing and the §18.2.1 Via fix-ups) to `deliver`, one at a time, until `shutdown`.
    func run(deliver: @escaping @Sendable (SIPMessage, SIPMessageSource) async -> Void) async throws
    /// As ``run(deliver:)``, but `deliver` is called synchronously on the thread (event
    /// loop) that read the message: run to completion. Returns after `shutdown`. By default
    /// it is ``run(deliver:)``.
    func runInline(deliver: @escaping @Sendable (SIPMessage, SIPMessageSource) -> Void) async throws
    /// Closes the listeners (no new inbound requests); open connections may stay for the
    /// responses of in-flight transactions.
    func stopListening() async
    /// Closes everything.
    func shutdown() async
    /// Host names and addresses that are "us" (for OPTIONS addressed to the server).
    var localHosts: Set<String> { get }
    /// Wakes the transaction layer at its timers' deadlines; nil = the layer polls.
    var timerScheduler: (any TransactionTimerScheduler)? { get }
    /// Called with a connection's flow id when it closes (RFC 3261 §17.1.4); set before `runInline`.
    func onConnectionClosed(_ body: @escaping @Sendable (UInt64) -> Void)
}

extension SIPServerTransport {
    public func runInline(deliver: @escaping @Sendable (SIPMessage, SIPMessageSource) -> Void) async throws {
        try await run { message, source in deliver(message, source) }
    }
    public var timerScheduler: (any TransactionTimerScheduler)? { nil }
    public func onConnectionClosed(_ body: @escaping @Sendable (UInt64) -> Void) {}
}
