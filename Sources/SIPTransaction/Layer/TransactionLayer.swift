import Logging
import SIPCore
import Synchronization

/// Arms the layer's one wake-up at the earliest timer deadline (ARCHITECTURE.md "Timers
/// are deadlines on that loop"): `SIPTransportAdapter` schedules a task on an event loop;
/// without one, ``TransactionLayer/runTimers(tick:)`` polls.
public protocol TransactionTimerScheduler: Sendable {
    /// Calls `body` once, `delay` from now, on any thread.
    func schedule(after delay: Duration, _ body: @escaping @Sendable () -> Void)
}

/// The transaction layer, RFC 3261 §17: owns every client and server transaction machine
/// and the one timer heap; the only place that knows the timers.
///
/// Run to completion: every entry point is synchronous and runs on the caller's thread (the
/// event loop that read the message). The tables live under one short lock; what a call
/// must do outside it (sends, events for the TU, client transaction reports) is collected
/// while the lock is held and carried out after it is released, in order, so a TU may call
/// back into the layer (respond, start) from inside an event.
///
/// What the TU must see goes to the handler set with ``setUser(_:)`` (the server assembly),
/// or, without one, out on ``events`` (tests and small programs).
public final class TransactionLayer: Sendable {
    /// Caps on the tables (ARCHITECTURE.md "every queue and table has a cap").
    public struct Limits: Hashable, Sendable {
        /// Live server transactions; a new request over it is answered 503 statelessly.
        public var maxServerTransactions: Int
        /// Live server transactions of one source address (IP): a new request from a source
        /// holding this many is answered 503 statelessly, so that one sender cannot fill the
        /// table for everybody (over UDP an answered non-INVITE transaction lives 32 s).
        public var maxServerTransactionsPerSource: Int
        /// Live client transactions; `start` over it throws (503).
        public var maxClientTransactions: Int
        /// `Retry-After` seconds in the 503 of an overloaded layer (RFC 3261 §21.5.4).
        public var retryAfter: Int
        public init(maxServerTransactions: Int = 65_536, maxServerTransactionsPerSource: Int = 4_096,
                    maxClientTransactions: Int = 65_536, retryAfter: Int = 5) {
            self.maxServerTransactions = maxServerTransactions
            self.maxServerTransactionsPerSource = maxServerTransactionsPerSource
            self.maxClientTransactions = maxClientTransactions
            self.retryAfter = retryAfter
        }
    }

    public let settings: TransactionTimerSettings
    public let limits: Limits
    let transport: any TransactionTransport
    let now: @Sendable () -> SIPInstant
    let logger: Logger
    /// Everything the TU must handle when no handler is set with ``setUser(_:)``.
    public let events: AsyncStream<TransactionUserEvent>
    let eventSink: AsyncStream<TransactionUserEvent>.Continuation
    let state: Mutex<LayerState>
    /// Told of every response the TU sends and every stateless rejection (metrics); set once
    /// at creation, so reading it takes no lock.
    public let observer: (any TransactionObserver)?

    /// - Parameter now: the clock; by default a monotonic clock starting at the layer's creation.
    public init(transport: any TransactionTransport, settings: TransactionTimerSettings = .default,
                limits: Limits = .init(), logger: Logger = Logger(label: "sip.transaction"),
                now: (@Sendable () -> SIPInstant)? = nil, observer: (any TransactionObserver)? = nil) {
        self.observer = observer
        self.transport = transport
        self.settings = settings
        self.limits = limits
        self.logger = logger
        if let now {
            self.now = now
        } else {
            let origin = ContinuousClock.now
            self.now = { SIPInstant(ContinuousClock.now - origin) }
        }
        (events, eventSink) = AsyncStream.makeStream(of: TransactionUserEvent.self, bufferingPolicy: .unbounded)
        state = Mutex(LayerState(settings: settings, limits: limits))
    }

    /// Routes every TU event to `user`, called synchronously on the thread that caused it.
    public func setUser(_ user: @escaping @Sendable (TransactionUserEvent) -> Void) {
        state.withLock { $0.user = user }
    }

    /// Drives the timers with `scheduler` (one wake-up at the earliest deadline).
    public func setTimerScheduler(_ scheduler: any TransactionTimerScheduler) {
        var effects = Effects()
        state.withLock { s in
            s.scheduler = scheduler
            s.armWakeup(now: now(), &effects)
        }
        perform(effects)
    }

    /// Number of live transactions (client, server).
    public var transactionCounts: (client: Int, server: Int) {
        state.withLock { ($0.clients.count, $0.servers.count) }
    }

    // MARK: timers

    /// Fires every timer due at the clock's current time.
    public func fireDueTimers() {
        var effects = Effects()
        let instant = now()
        state.withLock { s in
            s.wakeupAt = nil
            s.fireDue(at: instant, &effects)
            s.armWakeup(now: instant, &effects)
        }
        perform(effects)
    }

    /// Drives the timers on the real clock by polling, until the task is cancelled (for a
    /// transport without a ``TransactionTimerScheduler``).
    public func runTimers(tick: Duration = .milliseconds(10)) async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: tick) } catch { return }
            fireDueTimers()
        }
    }

    // MARK: shutdown

    /// True while some transaction still waits for a final response (client), or for its
    /// TU's final response (server). Completed/Confirmed/Accepted ones only absorb
    /// retransmissions and do not count.
    public var hasInFlightTransactions: Bool {
        state.withLock { s in s.clients.values.contains { $0.isInFlight } || s.servers.values.contains { $0.isInFlight } }
    }

    /// A graceful stop has begun: from now on a client transaction that fails (the connection
    /// closed under it, a timer that fired while draining) reports
    /// ``SIPTransactionError/Code/shuttingDown``, so that its TU does not take the stop for the
    /// peer's answer (a subscription ended by its NOTIFY's failure would not be restored).
    public func beginShutdown() {
        state.withLock { $0.shuttingDown = true }
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
    public func sendStateless(_ response: SIPResponse, replyingTo source: SIPMessageSource) {
        transport.send(response, replyingTo: source) { _ in }
    }

    /// Sends a request outside any transaction (ACK for 2xx, §13.2.2.4, §16.11).
    public func sendStateless(_ request: SIPRequest, to destination: SIPDestination) {
        transport.send(request, to: destination) { _ in }
    }

    /// The sent-by our transport would put in a Via towards `destination`.
    public func sentBy(for destination: SIPDestination) -> SIPHostPort {
        transport.sentBy(for: destination)
    }

    /// Runs `body` once after `delay`, with the layer's scheduler (a Task sleep without one).
    /// For TU timers such as a proxy's timer C (§16.8).
    public func schedule(after delay: Duration, _ body: @escaping @Sendable () -> Void) {
        if let scheduler = state.withLock({ $0.scheduler }) {
            scheduler.schedule(after: delay, body)
        } else {
            Task {
                try? await Task.sleep(for: delay)
                body()
            }
        }
    }

    // MARK: effects

    /// Carries out what a locked section decided, in order, outside the lock.
    func perform(_ effects: Effects) {
        for effect in effects.list {
            switch effect {
            case .sendResponse(let response, let source, let server):
                transport.send(response, replyingTo: source, onFailure: failureHandler(server: server))
                if server == nil { observer?.rejectedStatelessly(response) }
            case .sendRequest(let request, let destination, let client):
                transport.send(request, to: destination, onFailure: failureHandler(client: client))
            case .user(let event):
                if let user = effects.user { user(event) } else { eventSink.yield(event) }
            case .report(let sink, let report):
                sink(report)
            case .wakeup(let delay, let scheduler):
                scheduler.schedule(after: delay) { [weak self] in self?.fireDueTimers() }
            case .log(let message, let metadata):
                logger.debug(message, metadata: metadata)
            }
        }
    }

    func failureHandler(server id: UInt64?) -> @Sendable (SIPTransactionError) -> Void {
        guard let id else { return { _ in } }
        return { [weak self] _ in
            guard let self else { return }
            var effects = Effects()
            let instant = self.now()
            self.state.withLock { $0.handleServer(id, .transportError, at: instant, &effects) }
            self.perform(effects)
        }
    }

    func failureHandler(client id: UInt64?) -> @Sendable (SIPTransactionError) -> Void {
        guard let id else { return { _ in } }
        return { [weak self] _ in self?.clientTransportFailed(id) }
    }

    func clientTransportFailed(_ id: UInt64) {
        var effects = Effects()
        let instant = now()
        state.withLock { $0.handleClient(id, .transportError, response: nil, at: instant, &effects) }
        perform(effects)
    }

    /// RFC 3261 §17.1.4: the connection `flowID` closed; every client transaction waiting on
    /// it fails now with a transport error instead of at timer B/F.
    public func connectionClosed(flowID: UInt64) {
        let ids = state.withLock { s in
            s.clients.compactMap { $0.value.destination.flowID == flowID && $0.value.isInFlight ? $0.key : nil }
        }
        for id in ids { clientTransportFailed(id) }
    }
}

/// What a locked section of the layer leaves to do once the lock is released.
struct Effects {
    enum Effect {
        case sendResponse(SIPResponse, SIPMessageSource, server: UInt64?)
        case sendRequest(SIPRequest, SIPDestination, client: UInt64?)
        case user(TransactionUserEvent)
        case report(@Sendable (ClientTransactionReport) -> Void, ClientTransactionReport)
        case wakeup(Duration, any TransactionTimerScheduler)
        case log(Logger.Message, Logger.Metadata)
    }
    var list: [Effect] = []
    var user: (@Sendable (TransactionUserEvent) -> Void)?

    mutating func append(_ effect: Effect) { list.append(effect) }
}

/// The layer's tables, only touched under its lock.
struct LayerState {
    let settings: TransactionTimerSettings
    let limits: TransactionLayer.Limits
    var nextID: UInt64 = 0
    var clients: [UInt64: ClientEntry] = [:]
    var clientIndex: [ClientTransactionKey: UInt64] = [:]
    var servers: [UInt64: ServerEntry] = [:]
    var serverIndex: [ServerTransactionKey: UInt64] = [:]
    /// Live server transactions per source host (``Limits/maxServerTransactionsPerSource``).
    var serversBySource: [String: Int] = [:]
    var timers = TimerHeap()
    var user: (@Sendable (TransactionUserEvent) -> Void)?
    var scheduler: (any TransactionTimerScheduler)?
    /// When the one scheduled wake-up fires (nil: none scheduled).
    var wakeupAt: SIPInstant?
    /// Set by ``TransactionLayer/beginShutdown()``: client transactions that fail from now on
    /// report `shuttingDown`, whatever the timer or transport said.
    var shuttingDown = false

    init(settings: TransactionTimerSettings, limits: TransactionLayer.Limits) {
        self.settings = settings
        self.limits = limits
    }

    mutating func makeID() -> UInt64 {
        nextID &+= 1
        return nextID
    }

    mutating func arm(_ id: UInt64, _ timer: TransactionTimer, _ duration: Duration, at instant: SIPInstant) {
        timers.push(.init(deadline: instant + duration, transaction: id, timer: timer))
    }

    /// Schedules the wake-up for the earliest deadline unless one already comes no later.
    mutating func armWakeup(now instant: SIPInstant, _ effects: inout Effects) {
        guard let scheduler, let earliest = timers.earliest else { return }
        if let wakeupAt, wakeupAt <= earliest { return }
        wakeupAt = earliest
        let delay = earliest.sinceOrigin - instant.sinceOrigin
        effects.append(.wakeup(max(delay, .zero), scheduler))
    }

    mutating func fireDue(at instant: SIPInstant, _ effects: inout Effects) {
        while let entry = timers.popDue(now: instant) {
            if clients[entry.transaction] != nil {
                handleClient(entry.transaction, .timerFired(entry.timer), response: nil, at: instant, &effects)
            } else if servers[entry.transaction] != nil {
                handleServer(entry.transaction, .timerFired(entry.timer), at: instant, &effects)
            }
        }
    }

    /// A TU event, to the handler captured with the effects.
    mutating func emit(_ event: TransactionUserEvent, _ effects: inout Effects) {
        effects.user = user
        effects.append(.user(event))
    }
}

/// Watches what the layer sends for the operator's counters (`--metrics`). Called on the
/// thread that sent, outside the layer's lock; must be cheap and never block.
public protocol TransactionObserver: Sendable {
    /// The TU answered `request` with `response` through its server transaction.
    func responded(_ response: SIPResponse, to request: SIPRequest)
    /// The layer answered a request statelessly (400 malformed, 503 table full).
    func rejectedStatelessly(_ response: SIPResponse)
}
