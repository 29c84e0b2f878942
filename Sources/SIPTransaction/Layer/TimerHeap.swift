/// The transaction layer's timers: one binary min-heap of deadlines for every machine.
/// Cancelled timers are not removed (lazy deletion): a machine ignores a firing of a timer
/// it no longer has armed, or whose deadline it moved later.
struct TimerHeap {
    struct Entry {
        var deadline: SIPInstant
        var transaction: UInt64
        var timer: TransactionTimer
    }
    private var entries: [Entry] = []

    var count: Int { entries.count }
    var earliest: SIPInstant? { entries.first?.deadline }

    mutating func push(_ entry: Entry) {
        entries.append(entry)
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].deadline < entries[parent].deadline else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    /// Removes and returns the earliest entry if it is due at `now`.
    mutating func popDue(now: SIPInstant) -> Entry? {
        guard let first = entries.first, first.deadline <= now else { return nil }
        let last = entries.removeLast()
        if entries.isEmpty { return first }
        entries[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < entries.count, entries[left].deadline < entries[smallest].deadline { smallest = left }
            if right < entries.count, entries[right].deadline < entries[smallest].deadline { smallest = right }
            if smallest == parent { break }
            entries.swapAt(parent, smallest)
            parent = smallest
        }
        return first
    }
}
