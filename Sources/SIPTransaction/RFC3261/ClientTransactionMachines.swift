/// Client transaction state machines, RFC 3261 §17.1 (with RFC 6026's Accepted state for
/// INVITE). Pure values: each event comes with `now`, each call returns actions.

/// What can happen to a client transaction.
public enum ClientTransactionEvent: Hashable, Sendable {
    /// A response matched this transaction (§17.1.3); only its status code matters here.
    case response(statusCode: Int)
    case timerFired(TransactionTimer)
    /// The transport failed to send the request or ACK (§17.1.4).
    case transportError
    /// A CANCEL for this INVITE went out (§9.1): with no final response 64*T1 later, the
    /// transaction ends as timed out instead of waiting in Proceeding for ever.
    case cancelSent
}

/// The INVITE client transaction, RFC 3261 §17.1.1 (Figure 5) and RFC 6026 §7.2 (Figure 5
/// revised: a 2xx moves to Accepted, where Timer M absorbs 2xx retransmissions for the TU).
public struct InviteClientTransaction: Hashable, Sendable {
    public enum State: Hashable, Sendable { case calling, proceeding, completed, accepted, terminated }
    public private(set) var state: State = .calling
    public let reliable: Bool
    public let settings: TransactionTimerSettings
    private var timers = ArmedTimers()
    private var intervalA: Duration

    /// Creates the transaction; `actions` are what starting it requires (send the INVITE,
    /// arm A on unreliable transports, arm B).
    public init(reliable: Bool, settings: TransactionTimerSettings = .default, now: SIPInstant,
                actions: inout [TransactionAction]) {
        self.reliable = reliable
        self.settings = settings
        intervalA = settings.t1
        actions.append(.transmitRequest)
        if !reliable { timers.start(.a, intervalA, now: now, into: &actions) }
        timers.start(.b, settings.timeout, now: now, into: &actions)
    }

    public var earliestDeadline: SIPInstant? { timers.earliestDeadline }

    public mutating func handle(_ event: ClientTransactionEvent, now: SIPInstant) -> [TransactionAction] {
        var actions: [TransactionAction] = []
        switch (state, event) {
        case (.calling, .timerFired(.a)):
            guard timers.fire(.a, now: now) else { break }
            actions.append(.transmitRequest)
            intervalA = intervalA * 2
            timers.start(.a, intervalA, now: now, into: &actions)
        case (.calling, .timerFired(.b)):
            guard timers.fire(.b, now: now) else { break }
            actions.append(.reportTimeout(.b))
            terminate(&actions)
        case (.calling, .response(let code)), (.proceeding, .response(let code)):
            if code < 200 {
                if state == .calling {
                    state = .proceeding
                    timers.cancel(.a, into: &actions)
                    timers.cancel(.b, into: &actions)
                }
                actions.append(.passToTU)
            } else if code < 300 {
                timers.cancelAll(into: &actions)
                state = .accepted
                actions.append(.passToTU)
                timers.start(.m, settings.timeout, now: now, into: &actions)
            } else {
                timers.cancelAll(into: &actions)
                state = .completed
                actions.append(.passToTU)
                actions.append(.transmitACK)
                if reliable {
                    terminate(&actions)
                } else {
                    timers.start(.d, settings.timerD, now: now, into: &actions)
                }
            }
        case (.calling, .transportError), (.proceeding, .transportError), (.completed, .transportError):
            actions.append(.reportTransportError)
            terminate(&actions)
        case (.proceeding, .cancelSent):
            // §9.1: "If no final response is received in 64*T1 seconds after the CANCEL", the
            // transaction is destroyed: Timer B's span again, now in Proceeding.
            timers.start(.b, settings.timeout, now: now, into: &actions)
        case (.proceeding, .timerFired(.b)):
            guard timers.fire(.b, now: now) else { break }
            actions.append(.reportTimeout(.b))
            terminate(&actions)
        case (.completed, .response(let code)) where code >= 300:
            // A retransmitted final response: ACK again, do not bother the TU (§17.1.1.2).
            actions.append(.transmitACK)
        case (.completed, .timerFired(.d)):
            guard timers.fire(.d, now: now) else { break }
            terminate(&actions)
        case (.accepted, .response(let code)) where (200..<300).contains(code):
            actions.append(.passToTU)
        case (.accepted, .timerFired(.m)):
            guard timers.fire(.m, now: now) else { break }
            terminate(&actions)
        default:
            break  // absorbed: stale timers, responses that do not fit the state
        }
        return actions
    }

    private mutating func terminate(_ actions: inout [TransactionAction]) {
        timers.cancelAll(into: &actions)
        state = .terminated
        actions.append(.terminate)
    }
}

/// The non-INVITE client transaction, RFC 3261 §17.1.2 (Figure 6).
public struct NonInviteClientTransaction: Hashable, Sendable {
    public enum State: Hashable, Sendable { case trying, proceeding, completed, terminated }
    public private(set) var state: State = .trying
    public let reliable: Bool
    public let settings: TransactionTimerSettings
    private var timers = ArmedTimers()
    private var intervalE: Duration

    /// Creates the transaction; `actions`: send the request, arm E (unreliable) and F.
    public init(reliable: Bool, settings: TransactionTimerSettings = .default, now: SIPInstant,
                actions: inout [TransactionAction]) {
        self.reliable = reliable
        self.settings = settings
        intervalE = settings.t1
        actions.append(.transmitRequest)
        if !reliable { timers.start(.e, intervalE, now: now, into: &actions) }
        timers.start(.f, settings.timeout, now: now, into: &actions)
    }

    public var earliestDeadline: SIPInstant? { timers.earliestDeadline }

    public mutating func handle(_ event: ClientTransactionEvent, now: SIPInstant) -> [TransactionAction] {
        var actions: [TransactionAction] = []
        switch (state, event) {
        case (.trying, .timerFired(.e)), (.proceeding, .timerFired(.e)):
            guard timers.fire(.e, now: now) else { break }
            actions.append(.transmitRequest)
            // Trying: double up to T2; Proceeding: every T2 (§17.1.2.2).
            intervalE = state == .trying ? min(intervalE * 2, settings.t2) : settings.t2
            timers.start(.e, intervalE, now: now, into: &actions)
        case (.trying, .timerFired(.f)), (.proceeding, .timerFired(.f)):
            guard timers.fire(.f, now: now) else { break }
            actions.append(.reportTimeout(.f))
            terminate(&actions)
        case (.trying, .transportError), (.proceeding, .transportError):
            actions.append(.reportTransportError)
            terminate(&actions)
        case (.trying, .response(let code)), (.proceeding, .response(let code)):
            actions.append(.passToTU)
            if code < 200 {
                state = .proceeding
            } else {
                timers.cancelAll(into: &actions)
                state = .completed
                if reliable {
                    terminate(&actions)
                } else {
                    timers.start(.k, settings.t4, now: now, into: &actions)
                }
            }
        case (.completed, .timerFired(.k)):
            guard timers.fire(.k, now: now) else { break }
            terminate(&actions)
        default:
            break  // absorbed: retransmitted responses in Completed, stale timers
        }
        return actions
    }

    private mutating func terminate(_ actions: inout [TransactionAction]) {
        timers.cancelAll(into: &actions)
        state = .terminated
        actions.append(.terminate)
    }
}
