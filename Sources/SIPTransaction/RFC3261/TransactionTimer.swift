/// Timers, clock instants and the actions a transaction state machine returns
/// (RFC 3261 §17, Table 4 in appendix A; RFC 6026 §8.4 for Timers L and M).

/// A point on the transaction layer's monotonic clock: a duration since an arbitrary
/// origin. State machines never read a clock themselves; every event comes with `now`.
public struct SIPInstant: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var sinceOrigin: Duration
    public init(_ sinceOrigin: Duration) { self.sinceOrigin = sinceOrigin }
    public static let origin = SIPInstant(.zero)
    public static func < (a: SIPInstant, b: SIPInstant) -> Bool { a.sinceOrigin < b.sinceOrigin }
    public static func + (a: SIPInstant, d: Duration) -> SIPInstant { SIPInstant(a.sinceOrigin + d) }
    public var description: String { "\(sinceOrigin)" }
}

/// The RFC 3261 §17 timers, plus RFC 6026's L and M and the 200 ms "100 Trying" delay of
/// §17.2.1.
public enum TransactionTimer: Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// INVITE client: request retransmission (unreliable transports only), §17.1.1.2.
    case a
    /// INVITE client: transaction timeout, 64*T1.
    case b
    /// INVITE client: wait time for response retransmissions in Completed (≥32 s, 0 reliable).
    case d
    /// Non-INVITE client: request retransmission (unreliable only), §17.1.2.2.
    case e
    /// Non-INVITE client: transaction timeout, 64*T1.
    case f
    /// INVITE server: final response retransmission (unreliable only), §17.2.1.
    case g
    /// INVITE server: wait time for ACK receipt, 64*T1.
    case h
    /// INVITE server: wait time for ACK retransmissions (T4, 0 reliable).
    case i
    /// Non-INVITE server: wait time for request retransmissions (64*T1, 0 reliable), §17.2.2.
    case j
    /// Non-INVITE client: wait time for response retransmissions (T4, 0 reliable).
    case k
    /// INVITE server, RFC 6026 Accepted state: wait time for 2xx/ACK retransmissions, 64*T1.
    case l
    /// INVITE client, RFC 6026 Accepted state: wait time for 2xx retransmissions, 64*T1.
    case m
    /// INVITE server: the TU has not answered within 200 ms, send 100 Trying (§17.2.1).
    case trying

    public var description: String {
        switch self {
        case .a: "A"
        case .b: "B"
        case .d: "D"
        case .e: "E"
        case .f: "F"
        case .g: "G"
        case .h: "H"
        case .i: "I"
        case .j: "J"
        case .k: "K"
        case .l: "L"
        case .m: "M"
        case .trying: "100-Trying"
        }
    }
}

/// T1, T2, T4 and the derived durations (RFC 3261 §17.1.1.1 and Table 4).
public struct TransactionTimerSettings: Hashable, Sendable {
    /// RTT estimate, 500 ms by default.
    public var t1: Duration
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses, 4 s.
    public var t2: Duration
    /// Maximum time a message remains in the network, 5 s.
    public var t4: Duration
    /// Timer D on unreliable transports ("at least 32 seconds").
    public var timerD: Duration
    /// How long an INVITE server transaction waits for the TU before it sends 100 Trying
    /// itself (§17.2.1: "if the TU will not respond within 200 ms").
    public var tryingDelay: Duration

    public init(t1: Duration = .milliseconds(500), t2: Duration = .seconds(4), t4: Duration = .seconds(5),
                timerD: Duration = .seconds(32), tryingDelay: Duration = .milliseconds(200)) {
        self.t1 = t1
        self.t2 = t2
        self.t4 = t4
        self.timerD = timerD
        self.tryingDelay = tryingDelay
    }

    public static let `default` = TransactionTimerSettings()

    /// 64*T1: Timers B, F, H, J (unreliable), L, M.
    public var timeout: Duration { t1 * 64 }
}

/// What a state machine asks its owner to do. The owner (the transaction layer) holds the
/// messages themselves; actions refer to them.
public enum TransactionAction: Hashable, Sendable {
    /// Client: send (or retransmit) the transaction's request.
    case transmitRequest
    /// Client INVITE: send ACK for the non-2xx final response just received (§17.1.1.3).
    case transmitACK
    /// Server: send (or retransmit) the most recent response the TU handed over.
    case transmitResponse
    /// Server INVITE: build a 100 Trying for the request and send it (§17.2.1, §8.2.6.1).
    case transmitTrying
    /// Pass the message of the current event (response, request, or ACK) to the TU.
    case passToTU
    /// Arm `timer` to fire after `duration` (re-arming replaces the previous deadline).
    case startTimer(TransactionTimer, Duration)
    case cancelTimer(TransactionTimer)
    /// Tell the TU the transaction timed out (Timer B, F, or H).
    case reportTimeout(TransactionTimer)
    /// Tell the TU the transport failed (§8.1.3.1, §17.1.4, §17.2.4).
    case reportTransportError
    /// The transaction is over: forget it.
    case terminate
}

/// Armed timers of one machine: deadlines on the injected clock. A firing that is not
/// armed, or earlier than its deadline, is stale and ignored.
struct ArmedTimers: Hashable, Sendable {
    private var deadlines: [(TransactionTimer, SIPInstant)] = []

    static func == (a: ArmedTimers, b: ArmedTimers) -> Bool {
        a.deadlines.count == b.deadlines.count
            && zip(a.deadlines, b.deadlines).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    }
    func hash(into hasher: inout Hasher) {
        for (t, d) in deadlines { hasher.combine(t); hasher.combine(d) }
    }

    mutating func start(_ timer: TransactionTimer, _ duration: Duration, now: SIPInstant,
                        into actions: inout [TransactionAction]) {
        deadlines.removeAll { $0.0 == timer }
        deadlines.append((timer, now + duration))
        actions.append(.startTimer(timer, duration))
    }

    mutating func cancel(_ timer: TransactionTimer, into actions: inout [TransactionAction]) {
        guard let index = deadlines.firstIndex(where: { $0.0 == timer }) else { return }
        deadlines.remove(at: index)
        actions.append(.cancelTimer(timer))
    }

    mutating func cancelAll(into actions: inout [TransactionAction]) {
        for (timer, _) in deadlines { actions.append(.cancelTimer(timer)) }
        deadlines.removeAll()
    }

    /// Consumes a firing: true when `timer` is armed and due.
    mutating func fire(_ timer: TransactionTimer, now: SIPInstant) -> Bool {
        guard let index = deadlines.firstIndex(where: { $0.0 == timer }), deadlines[index].1 <= now else {
            return false
        }
        deadlines.remove(at: index)
        return true
    }

    func isArmed(_ timer: TransactionTimer) -> Bool { deadlines.contains { $0.0 == timer } }
    var earliestDeadline: SIPInstant? { deadlines.map(\.1).min() }
}
