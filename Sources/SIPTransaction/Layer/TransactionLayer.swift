import Logging
import SIPCore

/// The transaction layer, RFC 3261 §17: owns every client and server transaction machine
/// and the one timer heap; the only place that knows the timers. Inbound messages come in
/// through `receive(_:from:)`; what the TU must see goes out on `events` (requests once
/// each, whatever the retransmissions); the TU answers through `ServerTransaction.respond`
/// and sends requests statefully with `start(_:to:)`.
///
/// Timers are driven by `runTimers()` (a tick loop on the real clock), or in tests by
/// `fireDueTimers()` after moving the injected clock.
public actor TransactionLayer {
    public let settings: TransactionTimerSettings
    nonisolated let transport: any TransactionTransport
    nonisolated let now: @Sendable () -> SIPInstant
    let logger: Logger
    /// Everything the TU must handle. One consumer (the server assembly's run loop).
    public nonisolated let events: AsyncStream<TransactionUserEvent>
    nonisolated let eventSink: AsyncStream<TransactionUserEvent>.Continuation

    var nextID: UInt64 = 0
    var clients: [UInt64: ClientEntry] = [:]
    var clientIndex: [ClientTransactionKey: UInt64] = [:]
    var servers: [UInt64: ServerEntry] = [:]
    var serverIndex: [ServerTransactionKey: UInt64] = [:]
    var timers = TimerHeap()

    /// - Parameter now: the clock; by default a monotonic clock starting at the layer's creation.
    public init(transport: any TransactionTransport, settings: TransactionTimerSettings = .default,
                logger: Logger = Logger(label: "sip.transaction"),
                now: (@Sendable () -> SIPInstant)? = nil) {
        self.transport = transport
        self.settings = settings
        self.logger = logger
        if let now {
            self.now = now
        } else {
            let origin = ContinuousClock.now
            self.now = { SIPInstant(ContinuousClock.now - origin) }
        }
        (events, eventSink) = AsyncStream.makeStream(of: TransactionUserEvent.self, bufferingPolicy: .unbounded)
    }

    /// Number of live transactions (client, server).
    public var transactionCounts: (client: Int, server: Int) { (clients.count, servers.count) }

    // MARK: timers

    /// Fires every timer due at the clock's current time.
    public func fireDueTimers() {
        let instant = now()
        while let entry = timers.popDue(now: instant) {
            if clients[entry.transaction] != nil {
                handleClient(entry.transaction, .timerFired(entry.timer), response: nil, at: instant)
            } else if servers[entry.transaction] != nil {
                handleServer(entry.transaction, .timerFired(entry.timer), at: instant)
            }
        }
    }

    /// Drives the timers on the real clock until the task is cancelled.
    public func runTimers(tick: Duration = .milliseconds(10)) async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: tick) } catch { return }
            fireDueTimers()
        }
    }

    func arm(_ id: UInt64, _ timer: TransactionTimer, _ duration: Duration, at instant: SIPInstant) {
        timers.push(.init(deadline: instant + duration, transaction: id, timer: timer))
    }

    func makeID() -> UInt64 {
        nextID &+= 1
        return nextID
    }

    // MARK: shutdown

    /// True while some transaction still waits for a final response (client), or for its
    /// TU's final response (server). Completed/Confirmed/Accepted ones only absorb
    /// retransmissions and do not count.
    public var hasInFlightTransactions: Bool {
        clients.values.contains { $0.isInFlight } || servers.values.contains { $0.isInFlight }
    }

    /// Returns once no transaction is in flight (graceful stop), or at `deadline` on the
    /// real clock, or when the task is cancelled. Returns whether none is in flight.
    @discardableResult
    public func waitUntilNoneInFlight(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while hasInFlightTransactions {
            guard ContinuousClock.now < deadline, !Task.isCancelled else { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    /// Ends the event stream (after the TU is done).
    public func finishEvents() {
        eventSink.finish()
    }

    // MARK: stateless sends

    /// Sends a response outside any transaction (e.g. a 2xx retransmission a proxy
    /// forwards after its transaction ended, §16.7).
    public nonisolated func sendStateless(_ response: SIPResponse, replyingTo source: SIPMessageSource) {
        transport.send(response, replyingTo: source) { _ in }
    }

    /// Sends a request outside any transaction (ACK for 2xx, §13.2.2.4, §16.11).
    public nonisolated func sendStateless(_ request: SIPRequest, to destination: SIPDestination) {
        transport.send(request, to: destination) { _ in }
    }

    /// The sent-by our transport would put in a Via towards `destination`.
    public nonisolated func sentBy(for destination: SIPDestination) -> SIPHostPort {
        transport.sentBy(for: destination)
    }
}
