/// Server transaction state machines, RFC 3261 §17.2 (with RFC 6026's Accepted state for
/// INVITE). Pure values: each event comes with `now`, each call returns actions.

/// What can happen to a server transaction.
public enum ServerTransactionEvent: Hashable, Sendable {
    /// The request that created the transaction arrived again (§17.2.3 match).
    case requestRetransmission
    /// An ACK matched this (INVITE) transaction.
    case ack
    /// The TU hands over a response to send.
    case tuResponse(statusCode: Int)
    case timerFired(TransactionTimer)
    /// The transport failed to send a response (§17.2.4).
    case transportError
}

/// The INVITE server transaction, RFC 3261 §17.2.1 (Figure 7) and RFC 6026 §7.1: a 2xx
/// from the TU moves to Accepted, where INVITE retransmissions are absorbed, the TU's 2xx
/// retransmissions are sent, and ACKs go to the TU, until Timer L.
///
/// 100 Trying: the machine arms a 200 ms timer (`TransactionTimerSettings.tryingDelay`) and
/// asks for a 100 Trying only if the TU has not sent a response by then (§17.2.1), or at
/// once when the INVITE is retransmitted before any provisional response.
public struct InviteServerTransaction: Hashable, Sendable {
    public enum State: Hashable, Sendable { case proceeding, completed, confirmed, accepted, terminated }
    public private(set) var state: State = .proceeding
    public let reliable: Bool
    public let settings: TransactionTimerSettings
    private var timers = ArmedTimers()
    private var intervalG: Duration
    private var hasResponse = false

    /// Creates the transaction for a new INVITE; `actions`: pass it to the TU, arm the
    /// 100 Trying timer.
    public init(reliable: Bool, settings: TransactionTimerSettings = .default, now: SIPInstant,
                actions: inout [TransactionAction]) {
        self.reliable = reliable
        self.settings = settings
        intervalG = settings.t1
        actions.append(.passToTU)
        timers.start(.trying, settings.tryingDelay, now: now, into: &actions)
    }

    public var earliestDeadline: SIPInstant? { timers.earliestDeadline }

    public mutating func handle(_ event: ServerTransactionEvent, now: SIPInstant) -> [TransactionAction] {
        var actions: [TransactionAction] = []
        switch (state, event) {
        case (.proceeding, .timerFired(.trying)):
            guard timers.fire(.trying, now: now) else { break }
            hasResponse = true
            actions.append(.transmitTrying)
        case (.proceeding, .requestRetransmission):
            if hasResponse {
                actions.append(.transmitResponse)
            } else {
                timers.cancel(.trying, into: &actions)
                hasResponse = true
                actions.append(.transmitTrying)
            }
        case (.proceeding, .tuResponse(let code)):
            timers.cancel(.trying, into: &actions)
            hasResponse = true
            actions.append(.transmitResponse)
            if (200..<300).contains(code) {
                state = .accepted
                timers.start(.l, settings.timeout, now: now, into: &actions)
            } else if code >= 300 {
                state = .completed
                if !reliable { timers.start(.g, intervalG, now: now, into: &actions) }
                timers.start(.h, settings.timeout, now: now, into: &actions)
            }
        case (.proceeding, .transportError), (.completed, .transportError):
            actions.append(.reportTransportError)
            terminate(&actions)
        case (.completed, .requestRetransmission):
            actions.append(.transmitResponse)
        case (.completed, .timerFired(.g)):
            guard timers.fire(.g, now: now) else { break }
            actions.append(.transmitResponse)
            intervalG = min(intervalG * 2, settings.t2)
            timers.start(.g, intervalG, now: now, into: &actions)
        case (.completed, .timerFired(.h)):
            guard timers.fire(.h, now: now) else { break }
            actions.append(.reportTimeout(.h))
            terminate(&actions)
        case (.completed, .ack):
            timers.cancelAll(into: &actions)
            state = .confirmed
            if reliable {
                terminate(&actions)
            } else {
                timers.start(.i, settings.t4, now: now, into: &actions)
            }
        case (.confirmed, .timerFired(.i)):
            guard timers.fire(.i, now: now) else { break }
            terminate(&actions)
        case (.accepted, .ack):
            actions.append(.passToTU)
        case (.accepted, .tuResponse(let code)) where (200..<300).contains(code):
            actions.append(.transmitResponse)
        case (.accepted, .timerFired(.l)):
            guard timers.fire(.l, now: now) else { break }
            terminate(&actions)
        default:
            break  // absorbed: retransmitted INVITEs in Accepted, ACKs in Confirmed, stale timers
        }
        return actions
    }

    private mutating func terminate(_ actions: inout [TransactionAction]) {
        timers.cancelAll(into: &actions)
        state = .terminated
        actions.append(.terminate)
    }
}

/// The non-INVITE server transaction, RFC 3261 §17.2.2 (Figure 8).
public struct NonInviteServerTransaction: Hashable, Sendable {
    public enum State: Hashable, Sendable { case trying, proceeding, completed, terminated }
    public private(set) var state: State = .trying
    public let reliable: Bool
    public let settings: TransactionTimerSettings
    private var timers = ArmedTimers()

    /// Creates the transaction for a new request; `actions`: pass it to the TU.
    public init(reliable: Bool, settings: TransactionTimerSettings = .default, now: SIPInstant,
                actions: inout [TransactionAction]) {
        self.reliable = reliable
        self.settings = settings
        actions.append(.passToTU)
    }

    public var earliestDeadline: SIPInstant? { timers.earliestDeadline }

    public mutating func handle(_ event: ServerTransactionEvent, now: SIPInstant) -> [TransactionAction] {
        var actions: [TransactionAction] = []
        switch (state, event) {
        case (.trying, .requestRetransmission):
            break  // absorbed: the TU has not answered yet
        case (.proceeding, .requestRetransmission), (.completed, .requestRetransmission):
            actions.append(.transmitResponse)
        case (.trying, .tuResponse(let code)), (.proceeding, .tuResponse(let code)):
            actions.append(.transmitResponse)
            if code < 200 {
                state = .proceeding
            } else {
                state = .completed
                if reliable {
                    terminate(&actions)
                } else {
                    timers.start(.j, settings.timeout, now: now, into: &actions)
                }
            }
        case (.trying, .transportError), (.proceeding, .transportError), (.completed, .transportError):
            actions.append(.reportTransportError)
            terminate(&actions)
        case (.completed, .timerFired(.j)):
            guard timers.fire(.j, now: now) else { break }
            terminate(&actions)
        default:
            break  // absorbed: a second final response from the TU, stale timers
        }
        return actions
    }

    private mutating func terminate(_ actions: inout [TransactionAction]) {
        timers.cancelAll(into: &actions)
        state = .terminated
        actions.append(.terminate)
    }
}
