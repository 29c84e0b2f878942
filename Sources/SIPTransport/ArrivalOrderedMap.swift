import NIOCore

/// A dictionary that remembers the order its entries arrived in, so the oldest is found
/// without a scan: the shape of the DNS cache's FIFO eviction and of the connection table's
/// silent connections (the oldest gives way when the table is full).
///
/// Removing an entry leaves its place in the order buffer until it reaches the front or the
/// buffer is compacted (when it holds more than twice the entries plus 64), so every
/// operation is amortized O(1) and the buffer stays bounded by the entries.
struct ArrivalOrderedMap<Key: Hashable, Value> {
    private var entries: [Key: (arrival: UInt64, value: Value)] = [:]
    private var order = CircularBuffer<(key: Key, arrival: UInt64)>()
    private var arrivals: UInt64 = 0

    var count: Int { entries.count }
    /// Places held in the order buffer, stale ones included (tests check its bound).
    var orderCount: Int { order.count }

    subscript(key: Key) -> Value? { entries[key]?.value }

    /// Stores `value` as the newest entry (a replaced entry moves to the back).
    mutating func insert(_ value: Value, for key: Key) {
        arrivals &+= 1
        entries[key] = (arrivals, value)
        order.append((key, arrivals))
        compactIfLong()
    }

    @discardableResult
    mutating func removeValue(forKey key: Key) -> Value? {
        guard let removed = entries.removeValue(forKey: key) else { return nil }
        compactIfLong()
        return removed.value
    }

    /// Takes the oldest entry out; nil when there is none.
    mutating func popOldest() -> (key: Key, value: Value)? {
        while let (key, arrival) = order.popFirst() {
            if let entry = entries[key], entry.arrival == arrival {
                entries[key] = nil
                return (key, entry.value)
            }
        }
        return nil
    }

    private mutating func compactIfLong() {
        guard order.count > 2 * entries.count + 64 else { return }
        order.removeAll { entries[$0.key]?.arrival != $0.arrival }
    }
}

extension ArrivalOrderedMap: Sendable where Key: Sendable, Value: Sendable {}
