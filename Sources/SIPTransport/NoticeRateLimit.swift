import NIOConcurrencyHelpers
import NIOCore

/// At most one log line per interval for an event an attacker can repeat at will (a refused
/// connection): the line that is written says how many were left out since the last.
final class NoticeRateLimit: Sendable {
    private struct State {
        var last: NIODeadline?
        var suppressed = 0
    }
    private let state = NIOLockedValueBox(State())
    let interval: TimeAmount

    init(interval: TimeAmount = .seconds(1)) { self.interval = interval }

    /// nil: stay quiet this time; else log, mentioning the count of events not logged before.
    func admit(now: NIODeadline = .now()) -> Int? {
        state.withLockedValue { s in
            if let last = s.last, now - last < interval {
                s.suppressed += 1
                return nil
            }
            s.last = now
            defer { s.suppressed = 0 }
            return s.suppressed
        }
    }
}
