import SIPDigest
import Synchronization

/// Failed-authentication throttling against online password guessing (RFC 2617 §4.7
/// "online dictionary attacks"; RFC 3261 §22 inherits digest's exposure to them).
///
/// Failures are counted per source address and per (user, source address) within a window.
/// When a counter reaches its limit, that key is refused for a cooling-off period: every
/// further attempt from the source (or for that user from that source) is answered 403
/// without looking at the credentials. Nothing is counted per user alone, so an attacker's
/// address can never lock the real user out of their own address. A success clears that
/// (user, source) counter.
///
/// Both tables are bounded (``Configuration/capacity`` per generation, two generations): when
/// the current generation fills up it becomes the previous one and the older is dropped, so
/// the least recently touched entries go first. Keys still cooling off are carried into the
/// new generation (up to half of it), so flooding the table from many addresses does not
/// lift a lockout early.
public final class AuthenticationThrottle: Sendable {
    public struct Configuration: Sendable, Hashable {
        /// Wrong answers for one user from one source address before that pair is refused.
        public var maxFailuresPerUserAndSource = 5
        /// Wrong answers from one source address, over any users, before it is refused.
        public var maxFailuresPerSource = 10
        /// Seconds over which failures add up; a counter older than this starts again.
        public var window: Int64 = 300
        /// Seconds a throttled key stays refused.
        public var coolingOff: Int64 = 60
        /// Keys tracked per table and generation.
        public var capacity = 10_000
        /// Off: nothing is counted and nobody is refused.
        public var enabled = true

        public init() {}
    }

    /// What a check found.
    enum Verdict: Equatable, Sendable {
        case allowed
        /// Refused until this time (seconds).
        case throttled(until: Int64)
    }

    /// What recording a failure did.
    enum FailureEffect: Equatable, Sendable {
        case counted
        /// This failure started a cooling-off period for the source (`perSource`) or the pair.
        case throttled(perSource: Bool, until: Int64)
    }

    struct Entry {
        var failures: Int
        var windowStart: Int64
        var blockedUntil: Int64
    }

    struct PairKey: Hashable {
        var user: String
        var source: String

        /// The user part is whatever a client sent: at most `maxKeyLength` bytes of it are
        /// kept, so that a table at capacity stays small.
        init(user: String, source: String) {
            self.user = user.utf8.count <= maxKeyLength ? user : String(decoding: user.utf8.prefix(maxKeyLength), as: UTF8.self)
            self.source = source.utf8.count <= maxKeyLength ? source : String(decoding: source.utf8.prefix(maxKeyLength), as: UTF8.self)
        }
    }

    static let maxKeyLength = 128

    /// Two bounded generations of entries keyed by `Key`.
    struct Table<Key: Hashable> {
        var current: [Key: Entry] = [:]
        var previous: [Key: Entry] = [:]
        let capacity: Int

        init(capacity: Int) { self.capacity = max(2, capacity) }

        func entry(_ key: Key) -> Entry? { current[key] ?? previous[key] }

        mutating func set(_ key: Key, _ entry: Entry, now: Int64) {
            if current[key] == nil, current.count >= capacity { rotate(now: now) }
            current[key] = entry
            previous[key] = nil
        }

        mutating func remove(_ key: Key) {
            current[key] = nil
            previous[key] = nil
        }

        /// The current generation becomes the previous one; keys still cooling off move on.
        mutating func rotate(now: Int64) {
            var carried: [Key: Entry] = [:]
            for (key, entry) in current where entry.blockedUntil > now {
                if carried.count >= capacity / 2 { break }
                carried[key] = entry
            }
            for key in carried.keys { current[key] = nil }
            previous = current
            current = carried
        }

        var count: Int { current.count + previous.count }
    }

    struct State {
        var sources: Table<String>
        var pairs: Table<PairKey>
    }

    let configuration: Configuration
    private let state: Mutex<State>

    init(configuration: Configuration) {
        self.configuration = configuration
        state = Mutex(State(sources: Table(capacity: configuration.capacity), pairs: Table(capacity: configuration.capacity)))
    }

    /// Whether `source` (and `user` from it, when known) may try to authenticate now.
    func check(source: String, user: String?, now: Int64) -> Verdict {
        guard configuration.enabled else { return .allowed }
        return state.withLock { s in
            var until: Int64 = 0
            if let entry = s.sources.entry(source), entry.blockedUntil > now { until = entry.blockedUntil }
            if let user, let entry = s.pairs.entry(PairKey(user: user, source: source)), entry.blockedUntil > now {
                until = max(until, entry.blockedUntil)
            }
            return until > now ? .throttled(until: until) : .allowed
        }
    }

    /// Counts one failed attempt (a wrong response, or an unknown username) by `user` from `source`.
    @discardableResult
    func recordFailure(source: String, user: String, now: Int64) -> FailureEffect {
        guard configuration.enabled else { return .counted }
        let c = configuration
        return state.withLock { s in
            let pair = PairKey(user: user, source: source)
            let pairEntry = Self.counted(s.pairs.entry(pair), limit: c.maxFailuresPerUserAndSource, now: now, c)
            s.pairs.set(pair, pairEntry.entry, now: now)
            let sourceEntry = Self.counted(s.sources.entry(source), limit: c.maxFailuresPerSource, now: now, c)
            s.sources.set(source, sourceEntry.entry, now: now)
            if sourceEntry.startedCoolingOff { return .throttled(perSource: true, until: sourceEntry.entry.blockedUntil) }
            if pairEntry.startedCoolingOff { return .throttled(perSource: false, until: pairEntry.entry.blockedUntil) }
            return .counted
        }
    }

    /// A successful authentication of `user` from `source` clears that pair's count.
    func recordSuccess(source: String, user: String) {
        guard configuration.enabled else { return }
        state.withLock { $0.pairs.remove(PairKey(user: user, source: source)) }
    }

    /// Keys held in both tables (for tests of the bound).
    var trackedCount: Int { state.withLock { $0.sources.count + $0.pairs.count } }

    private static func counted(_ existing: Entry?, limit: Int, now: Int64, _ c: Configuration)
        -> (entry: Entry, startedCoolingOff: Bool)
    {
        var entry = existing ?? Entry(failures: 0, windowStart: now, blockedUntil: 0)
        // A counter whose window has passed, or whose cooling-off is over, starts again.
        if now - entry.windowStart >= c.window || (entry.blockedUntil != 0 && entry.blockedUntil <= now) {
            entry = Entry(failures: 0, windowStart: now, blockedUntil: 0)
        }
        entry.failures += 1
        if entry.failures >= limit, entry.blockedUntil <= now {
            entry.blockedUntil = now + c.coolingOff
            return (entry, true)
        }
        return (entry, false)
    }
}
