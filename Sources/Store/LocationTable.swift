import Logging
import Synchronization

/// The location service's table (RFC 3261 §10.3, §16.5 "location service"): every current
/// binding, held in memory and served from memory on the hot path, written through to a
/// ``BindingStore`` with group commit.
///
/// Writes: ``update(aor:_:)`` runs a transform over one AOR's bindings (serialized per AOR),
/// diffs the result, queues the changes and awaits the commit of the batch they land in. All
/// changes that arrive while a commit is in flight go into the next one, so one commit (and,
/// with ``SQLiteStore/Durability/fsync``, one fsync) serves many REGISTERs.
///
/// Durability: an update returns only after its batch is committed, so a binding that was
/// acknowledged is in the store. Memory changes only after the commit succeeded: when it fails,
/// the update throws (`.unavailable`) and neither memory nor the store changed (all-or-nothing,
/// RFC 3261 §10.3 step 7 "binding updates MUST be committed ... if and only if all ... succeed").
public actor LocationTable {
    let store: any BindingStore
    let clock: StoreClock
    let logger: Logger

    /// AOR -> its bindings (possibly including expired ones not purged yet). Changed only by
    /// the actor; read under the lock by ``lookup(_:)`` without a hop onto the actor.
    private let table = Mutex<[String: [Binding]]>([:])
    /// AORs with an update in progress -> updates waiting their turn.
    private var locks: [String: [CheckedContinuation<Void, Never>]] = [:]
    private var pending: [BindingChange] = []
    private var waiters: [CheckedContinuation<Result<Void, StoreError>, Never>] = []
    private var flushing = false
    /// Failed batches since the last success (logged once per burst).
    private var failedBatches = 0
    /// Updates admitted and not yet finished (waiting for their AOR, or for their commit).
    private var inFlight = 0
    /// The cap on ``inFlight``: past it an update is refused at once with `.overloaded`
    /// (ARCHITECTURE.md: every queue has a cap, and what is over it gets an answer).
    public private(set) var maxInFlight = 20_000

    /// Changes the cap on updates waiting for their commit (tests, tuning).
    public func setMaxInFlight(_ value: Int) { maxInFlight = max(1, value) }

    private init(store: any BindingStore, clock: StoreClock, logger: Logger) {
        self.store = store
        self.clock = clock
        self.logger = logger
    }

    /// Loads every unexpired binding from `store` into memory.
    public static func load(from store: any BindingStore, clock: StoreClock = .system,
                            logger: Logger = Logger(label: "sip.location")) async throws(StoreError) -> LocationTable {
        let table = LocationTable(store: store, clock: clock, logger: logger)
        let bindings = try await store.loadBindings(now: clock.now())
        await table.install(bindings)
        logger.info("location table loaded", metadata: ["store.bindings": "\(bindings.count)"])
        return table
    }

    private func install(_ bindings: [Binding]) {
        var table: [String: [Binding]] = [:]
        for var binding in bindings {
            if let existing = table.index(forKey: binding.aor) {
                binding.aor = table.keys[existing]  // share one string per AOR
                table.values[existing].append(binding)
            } else {
                table[binding.aor] = [binding]
            }
        }
        self.table.withLock { $0 = table }
    }

    // MARK: - Lookups (memory only)

    /// The current (unexpired) bindings of `aor`, highest q first (RFC 3261 §16.6 target order).
    /// A read under the table's lock: no hop onto the actor, never suspends.
    public nonisolated func lookup(_ aor: String) -> [Binding] {
        guard let bindings = table.withLock({ $0[aor] }) else { return [] }
        let now = clock.now()
        return bindings.filter { $0.expiresAt > now }.sorted { $0.q > $1.q }
    }

    /// How many AORs have at least one binding in memory (expired ones not yet purged count).
    public var aorCount: Int { table.withLock { $0.count } }
    /// Changes queued behind the commit in flight (for metrics and tests).
    public var queuedChanges: Int { pending.count }
    /// Batches committed since start.
    public private(set) var committedBatches = 0
    /// How many bindings are held in memory.
    public var bindingCount: Int { table.withLock { $0.values.reduce(0) { $0 + $1.count } } }

    // MARK: - Updates

    /// Runs `transform` over the unexpired bindings of `aor` (updates of one AOR never overlap),
    /// and persists what it changed before returning its result. When `transform` leaves the
    /// bindings unchanged nothing is written. Throws `.unavailable` when the commit failed;
    /// then nothing changed.
    public func update<R: Sendable>(
        aor: String,
        _ transform: @Sendable (_ bindings: inout [Binding], _ now: Int64) -> R
    ) async throws(StoreError) -> R {
        guard inFlight < maxInFlight else {
            throw StoreError(.overloaded, "\(inFlight) binding updates are waiting for their commit", status: 503)
        }
        inFlight += 1
        defer { inFlight -= 1 }
        await acquire(aor)
        defer { release(aor) }
        let now = clock.now()
        let stored = table.withLock { $0[aor] } ?? []
        var bindings = stored.filter { $0.expiresAt > now }
        let result = transform(&bindings, now)
        let changes = Self.diff(aor: aor, from: stored, to: bindings)
        if !changes.isEmpty {
            try await commit(changes)
        }
        table.withLock { $0[aor] = bindings.isEmpty ? nil : bindings }
        return result
    }

    /// The changes that turn `old` into `new`, keyed by contact text.
    static func diff(aor: String, from old: [Binding], to new: [Binding]) -> [BindingChange] {
        var changes: [BindingChange] = []
        for binding in new where !old.contains(binding) {
            changes.append(.upsert(binding))
        }
        for binding in old where !new.contains(where: { $0.contact == binding.contact }) {
            changes.append(.remove(aor: aor, contact: binding.contact))
        }
        return changes
    }

    private func acquire(_ aor: String) async {
        if locks[aor] == nil {
            locks[aor] = []
            return
        }
        await withCheckedContinuation { locks[aor, default: []].append($0) }
    }

    /// Hands the AOR to the next waiting update, or unlocks it.
    private func release(_ aor: String) {
        guard var queue = locks[aor] else { return }
        if queue.isEmpty {
            locks[aor] = nil
        } else {
            let next = queue.removeFirst()
            locks[aor] = queue
            next.resume()
        }
    }

    // MARK: - Group commit

    private func commit(_ changes: [BindingChange]) async throws(StoreError) {
        pending.append(contentsOf: changes)
        let result = await withCheckedContinuation { continuation in
            waiters.append(continuation)
            if !flushing {
                flushing = true
                Task { await self.flush() }
            }
        }
        try result.get()
    }

    /// Writes batches until nothing is pending: each batch holds everything queued while the
    /// previous one was being committed.
    private func flush() async {
        while !pending.isEmpty {
            let batch = pending
            let batchWaiters = waiters
            pending = []
            waiters = []
            let result: Result<Void, StoreError>
            do {
                try await store.apply(batch)
                result = .success(())
                committedBatches += 1
                if failedBatches > 0 {
                    logger.notice("binding store writable again", metadata: ["store.failed_batches": "\(failedBatches)"])
                    failedBatches = 0
                }
            } catch {
                result = .failure(error)
                if failedBatches == 0 {
                    logger.error("binding store write failed; REGISTERs answered 500 until it recovers",
                                 metadata: ["store.error": "\(error)"])
                }
                failedBatches += 1
            }
            for waiter in batchWaiters { waiter.resume(returning: result) }
        }
        flushing = false
    }

    // MARK: - Expiry

    /// Drops expired bindings from memory and from the store (RFC 3261 §10.2.1.1: a binding
    /// ends when its expiration interval passes). Returns how many the store deleted.
    @discardableResult
    public func purgeExpired() async throws(StoreError) -> Int {
        let now = clock.now()
        let locks = self.locks
        table.withLock { table in
            let touched = table.compactMap { aor, bindings in
                locks[aor] == nil && bindings.contains { $0.expiresAt <= now } ? aor : nil
            }
            for aor in touched {
                let live = table[aor, default: []].filter { $0.expiresAt > now }
                table[aor] = live.isEmpty ? nil : live
            }
        }
        return try await store.purgeExpired(now: now)
    }

    /// Purges expired bindings every `interval` seconds until the task is cancelled.
    public func runPurger(every interval: Duration = .seconds(30)) async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { return }
            do {
                let purged = try await purgeExpired()
                if purged > 0 { logger.debug("purged expired bindings", metadata: ["store.purged": "\(purged)"]) }
            } catch {
                logger.warning("purging expired bindings failed", metadata: ["store.error": "\(error)"])
            }
        }
    }
}
