import Logging
import Synchronization

/// The location service's table (RFC 3261 §10.3, §16.5 "location service"): every current
/// binding, held in memory and served from memory on the hot path, written through to a
/// ``BindingStore`` with group commit.
///
/// Writes: ``update(aor:_:completion:)`` runs a transform over one AOR's bindings (serialized
/// per AOR), diffs the result, queues the changes and calls back once the batch they land in
/// is committed (``update(aor:_:)`` is its async form). No actor: the state is under short
/// locks, the transform runs on the caller's thread (the event loop), and only the batch
/// commit leaves it (one task per batch, not per update). All
/// changes that arrive while a commit is in flight go into the next one, so one commit (and,
/// with ``SQLiteStore/Durability/fsync``, one fsync) serves many REGISTERs.
///
/// Durability: an update returns only after its batch is committed, so a binding that was
/// acknowledged is in the store. Memory changes only after the commit succeeded: when it fails,
/// the update throws (`.unavailable`) and neither memory nor the store changed (all-or-nothing,
/// RFC 3261 §10.3 step 7 "binding updates MUST be committed ... if and only if all ... succeed").
public final class LocationTable: Sendable {
    let store: any BindingStore
    let clock: StoreClock
    let logger: Logger

    /// AOR -> its bindings (possibly including expired ones not purged yet). Read under the
    /// lock by ``lookup(_:)``; written when an update's commit succeeded.
    private let table = Mutex<[String: [Binding]]>([:])

    struct CommitState {
        /// AORs with an update in progress -> updates waiting their turn.
        var busy: [String: [@Sendable () -> Void]] = [:]
        var pending: [BindingChange] = []
        var completions: [@Sendable (Result<Void, StoreError>) -> Void] = []
        var flushing = false
        /// Failed batches since the last success (logged once per burst).
        var failedBatches = 0
        /// Updates admitted and not yet finished (waiting for their AOR or their commit).
        var inFlight = 0
        var maxInFlight = 20_000
        var committedBatches = 0
    }
    private let commits = Mutex(CommitState())

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
        table.install(bindings)
        logger.info("location table loaded", metadata: ["store.bindings": "\(bindings.count)"])
        return table
    }

    /// The cap on updates waiting for their commit: past it an update is refused at once
    /// with `.overloaded` (ARCHITECTURE.md: every queue has a cap, and what is over it gets an
    /// answer, here 503 with Retry-After).
    public var maxInFlight: Int { commits.withLock { $0.maxInFlight } }

    /// Changes ``maxInFlight`` (tests, tuning).
    public func setMaxInFlight(_ value: Int) { commits.withLock { $0.maxInFlight = max(1, value) } }

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
    public var queuedChanges: Int { commits.withLock { $0.pending.count } }
    /// Batches committed since start.
    public var committedBatches: Int { commits.withLock { $0.committedBatches } }
    /// How many bindings are held in memory.
    public var bindingCount: Int { table.withLock { $0.values.reduce(0) { $0 + $1.count } } }

    // MARK: - Updates

    /// Runs `transform` over the unexpired bindings of `aor` (updates of one AOR never overlap),
    /// and persists what it changed before calling `completion` with its result. When
    /// `transform` leaves the bindings unchanged nothing is written and `completion` is called
    /// at once, on the caller's thread. Fails with `.unavailable` when the commit failed (then
    /// nothing changed) and `.overloaded` past ``maxInFlight``.
    public func update<R: Sendable>(
        aor: String,
        _ transform: @escaping @Sendable (_ bindings: inout [Binding], _ now: Int64) -> R,
        completion: @escaping @Sendable (Result<R, StoreError>) -> Void
    ) {
        let run: @Sendable () -> Void = { [self] in
            let now = clock.now()
            let stored = table.withLock { $0[aor] } ?? []
            var bindings = stored.filter { $0.expiresAt > now }
            let result = transform(&bindings, now)
            let changes = Self.diff(aor: aor, from: stored, to: bindings)
            let kept = bindings
            guard !changes.isEmpty else {
                table.withLock { $0[aor] = kept.isEmpty ? nil : kept }
                finish(aor)
                completion(.success(result))
                return
            }
            enqueue(changes) { [self] outcome in
                if case .success = outcome {
                    table.withLock { $0[aor] = kept.isEmpty ? nil : kept }
                }
                finish(aor)
                completion(outcome.map { result })
            }
        }
        let admitted: Bool? = commits.withLock { c in
            guard c.inFlight < c.maxInFlight else { return nil }
            c.inFlight += 1
            if c.busy[aor] != nil {
                c.busy[aor]!.append(run)
                return false
            }
            c.busy[aor] = []
            return true
        }
        switch admitted {
        case nil:
            completion(.failure(StoreError(.overloaded, "binding updates waiting for their commit are at the cap", status: 503)))
        case true?:
            run()
        case false?:
            break  // runs when the AOR's current update finishes
        }
    }

    /// As ``update(aor:_:completion:)``, awaiting the result.
    public func update<R: Sendable>(
        aor: String,
        _ transform: @escaping @Sendable (_ bindings: inout [Binding], _ now: Int64) -> R
    ) async throws(StoreError) -> R {
        let outcome: Result<R, StoreError> = await withCheckedContinuation { continuation in
            update(aor: aor, transform) { continuation.resume(returning: $0) }
        }
        return try outcome.get()
    }

    /// The AOR's update is over: the next waiting one runs (on this thread), or the AOR is free.
    private func finish(_ aor: String) {
        let next: (@Sendable () -> Void)? = commits.withLock { c in
            c.inFlight -= 1
            guard var queue = c.busy[aor] else { return nil }
            if queue.isEmpty {
                c.busy[aor] = nil
                return nil
            }
            let next = queue.removeFirst()
            c.busy[aor] = queue
            return next
        }
        next?()
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

    // MARK: - Group commit

    /// Queues `changes` for the next batch; starts the flusher when none runs.
    private func enqueue(_ changes: [BindingChange], _ completion: @escaping @Sendable (Result<Void, StoreError>) -> Void) {
        let start = commits.withLock { c in
            c.pending.append(contentsOf: changes)
            c.completions.append(completion)
            if c.flushing { return false }
            c.flushing = true
            return true
        }
        if start { Task { await self.flush() } }
    }

    /// Writes batches until nothing is pending: each batch holds everything queued while the
    /// previous one was being committed.
    private func flush() async {
        while true {
            let taken: ([BindingChange], [@Sendable (Result<Void, StoreError>) -> Void])? = commits.withLock { c in
                guard !c.pending.isEmpty else {
                    c.flushing = false
                    return nil
                }
                defer { c.pending = []; c.completions = [] }
                return (c.pending, c.completions)
            }
            guard let (batch, completions) = taken else { return }
            let result: Result<Void, StoreError>
            do {
                try await store.apply(batch)
                result = .success(())
                let recovered = commits.withLock { c in
                    c.committedBatches += 1
                    defer { c.failedBatches = 0 }
                    return c.failedBatches
                }
                if recovered > 0 {
                    logger.notice("binding store writable again", metadata: ["store.failed_batches": "\(recovered)"])
                }
            } catch {
                result = .failure(error)
                let first = commits.withLock { c in defer { c.failedBatches += 1 }; return c.failedBatches == 0 }
                if first {
                    logger.error("binding store write failed; REGISTERs answered 500 until it recovers",
                                 metadata: ["store.error": "\(error)"])
                }
            }
            for completion in completions { completion(result) }
        }
    }

    // MARK: - Expiry

    /// Drops expired bindings from memory and from the store (RFC 3261 §10.2.1.1: a binding
    /// ends when its expiration interval passes). Returns how many the store deleted.
    @discardableResult
    public func purgeExpired() async throws(StoreError) -> Int {
        let now = clock.now()
        let busy = commits.withLock { Set($0.busy.keys) }
        table.withLock { table in
            let touched = table.compactMap { aor, bindings in
                !busy.contains(aor) && bindings.contains { $0.expiresAt <= now } ? aor : nil
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
