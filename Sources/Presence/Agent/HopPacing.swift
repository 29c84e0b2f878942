import SIPTransaction

/// Per next hop pacing of NOTIFYs. A presentity's change fans out to every watcher at once,
/// and many watchers can sit behind one next hop (a proxy, an edge server, one client
/// stack's connection). Unpaced, a large fan-out puts hundreds of thousands of NOTIFYs in
/// flight towards that hop: its answers come back later than Timer F (32 s), and RFC 6665
/// §4.2.2 then ends every one of those subscriptions. So at most ``limit`` NOTIFYs are in
/// flight per hop; the subscriptions over it wait in a FIFO (each at most once: a waiting
/// subscription's further changes coalesce into the one NOTIFY it sends when its turn
/// comes, with its latest state) and go out as answers come back.
///
/// The hop is also held to ``byteLimit`` bytes in flight: a watcher stack that stops reading
/// for a moment then holds at most that much, under the transport's outbound buffer cap, so
/// our own fan-out never gets its connection closed as a peer that does not read.
struct HopPacing {
    /// A next hop (transport and the address a flow leads to), hashed: two hops colliding
    /// only share one pace. 0 means "not known yet".
    typealias Hop = Int

    static func hop(_ destination: SIPDestination) -> Hop {
        var hasher = Hasher()
        hasher.combine(destination.transport)
        hasher.combine(destination.flowAddress ?? destination.address)
        let value = hasher.finalize()
        return value == 0 ? 1 : value
    }

    /// A queue of subscription ids, amortised O(1) both ends.
    struct FIFO {
        private var items: [String] = []
        private var head = 0
        var isEmpty: Bool { head == items.count }
        var count: Int { items.count - head }
        mutating func append(_ id: String) { items.append(id) }
        mutating func popFirst() -> String? {
            guard head < items.count else { return nil }
            let id = items[head]
            head += 1
            if head >= 1024, head * 2 >= items.count {
                items.removeFirst(head)
                head = 0
            }
            return id
        }
    }

    let limit: Int
    let byteLimit: Int
    private(set) var inFlight: [Hop: Int] = [:]
    private(set) var bytesInFlight: [Hop: Int] = [:]
    private var waiting: [Hop: FIFO] = [:]

    init(limit: Int, byteLimit: Int = .max) {
        self.limit = max(1, limit)
        self.byteLimit = max(1, byteLimit)
    }

    /// Whether `hop` can take one more NOTIFY.
    func hasRoom(_ hop: Hop) -> Bool {
        inFlight[hop, default: 0] < limit && bytesInFlight[hop, default: 0] < byteLimit
    }

    /// Takes a slot towards `hop`; false when the hop is at its limit (the caller waits).
    mutating func acquire(_ hop: Hop) -> Bool {
        guard hop != 0 else { return true }
        guard hasRoom(hop) else { return false }
        inFlight[hop, default: 0] += 1
        return true
    }

    /// Counts the size of the NOTIFY that took a slot towards `hop`.
    mutating func charge(_ hop: Hop, bytes: Int) {
        guard hop != 0, bytes > 0 else { return }
        bytesInFlight[hop, default: 0] += bytes
    }

    /// Queues subscription `id` for `hop`'s next free slot.
    mutating func wait(_ id: String, on hop: Hop) {
        waiting[hop, default: FIFO()].append(id)
    }

    /// Gives a slot back, and the `bytes` it was charged.
    mutating func release(_ hop: Hop, bytes: Int = 0) {
        guard hop != 0 else { return }
        if bytes > 0, let charged = bytesInFlight[hop] {
            bytesInFlight[hop] = charged <= bytes ? nil : charged - bytes
        }
        guard let current = inFlight[hop] else { return }
        inFlight[hop] = current <= 1 ? nil : current - 1
    }

    /// The subscription waiting longest for `hop`, while the hop has a free slot.
    mutating func nextWaiting(_ hop: Hop) -> String? {
        guard hop != 0, hasRoom(hop), var queue = waiting[hop] else { return nil }
        let id = queue.popFirst()
        waiting[hop] = queue.isEmpty ? nil : queue
        return id
    }

    /// The hops some subscription waits for.
    var waitingHops: [Hop] { Array(waiting.keys) }

    /// Subscriptions waiting, over every hop.
    var waitingCount: Int { waiting.values.reduce(0) { $0 + $1.count } }
}
