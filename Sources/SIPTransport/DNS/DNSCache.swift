import NIOConcurrencyHelpers
import NIOCore

/// A bounded TTL cache of answers keyed by question, safe to read from any event loop (one
/// short lock per lookup), so a cached answer costs no hop to the resolver's loop.
///
/// At most `capacity` entries; when full, the oldest inserted entry goes first (FIFO), and
/// expired entries are dropped when met. TTLs are capped at `maxTTL`; an answer with TTL 0
/// is not stored.
public final class DNSCache: Sendable {
    private struct Entry {
        var answer: DNSAnswer
        var expires: NIODeadline
    }

    private struct State {
        /// In insertion order: the oldest goes first when the cache is full.
        var entries = ArrivalOrderedMap<DNSQuestion, Entry>()
    }

    public let capacity: Int
    public let maxTTL: UInt32
    private let now: @Sendable () -> NIODeadline
    private let state = NIOLockedValueBox(State())

    /// - Parameters:
    ///   - capacity: the most answers kept (at least 1).
    ///   - maxTTL: the longest an answer is kept, whatever its TTL (seconds).
    ///   - now: the clock; injectable for tests.
    public init(capacity: Int = 10_000, maxTTL: UInt32 = 86_400,
                now: @escaping @Sendable () -> NIODeadline = { NIODeadline.now() }) {
        self.capacity = max(1, capacity)
        self.maxTTL = maxTTL
        self.now = now
    }

    /// The cached answer to `question` with its TTL reduced to what remains, or nil.
    public func lookup(_ question: DNSQuestion) -> DNSAnswer? {
        let now = self.now()
        return state.withLockedValue { s -> DNSAnswer? in
            guard let entry = s.entries[question] else { return nil }
            guard entry.expires > now else {
                s.entries.removeValue(forKey: question)
                return nil
            }
            var answer = entry.answer
            let remaining = (entry.expires - now).nanoseconds / 1_000_000_000
            answer.ttl = UInt32(clamping: max(0, remaining))
            return answer
        }
    }

    /// Stores `answer` for its TTL (capped at `maxTTL`); TTL 0 is not stored.
    public func insert(_ answer: DNSAnswer) {
        let ttl = min(answer.ttl, maxTTL)
        guard ttl > 0 else { return }
        let expires = now() + .seconds(Int64(ttl))
        let capacity = self.capacity
        state.withLockedValue { s in
            s.entries.insert(Entry(answer: answer, expires: expires), for: answer.question)
            while s.entries.count > capacity, s.entries.popOldest() != nil {}
        }
    }

    /// How many answers are stored (expired ones not yet met included).
    public var count: Int { state.withLockedValue { $0.entries.count } }

    /// Forgets everything.
    public func removeAll() {
        state.withLockedValue { $0 = State() }
    }
}
