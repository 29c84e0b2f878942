import Logging
import Synchronization

/// Every user's access list and every domain's default, held in memory (ARCHITECTURE.md
/// "Home server": the presence agent decides who may see alice), so that a SUBSCRIBE is
/// authorized (RFC 3856 §6.6, RFC 6665 §4.2.1.3) without reading SQLite. Loaded whole at start;
/// reloaded when the store's ACL generation moves (`sipctl acl ...` in another process),
/// checked by ``refreshIfChanged()`` about once a second by ``runRefresher(every:onChange:)``.
///
/// Reads are synchronous under a lock (no actor hop on the hot path), like ``UserDirectory``.
public final class AccessLists: Sendable {
    let store: any AccessListStore
    let logger: Logger
    struct State {
        /// Domain -> configured default.
        var defaults: [String: WatchPolicy] = [:]
        /// Presentity -> watcher -> rule.
        var entries: [String: [String: AccessRule]] = [:]
        var generation: Int64 = -1
    }
    private let state = Mutex(State())

    private init(store: any AccessListStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    /// Loads every default and entry of `store` into memory.
    public static func load(from store: any AccessListStore,
                            logger: Logger = Logger(label: "sip.acl")) async throws(StoreError) -> AccessLists {
        let lists = AccessLists(store: store, logger: logger)
        _ = try await lists.reload()
        return lists
    }

    /// Whether `watcher` may see `presentity`'s presence (both normalized AORs, ``AOR``), from
    /// memory only. In order:
    /// 1. a user may always watch themselves: `.allow`;
    /// 2. the presentity's entry for this watcher: its rule;
    /// 3. the default configured for the presentity's domain (for every watcher, ours or foreign);
    /// 4. built in (LCS 2003 out of the box): `.allow` when the watcher is of the presentity's
    ///    domain, `.block` otherwise.
    public func decide(presentity: String, watcher: String) -> WatchPolicy {
        if watcher == presentity { return .allow }
        let domain = Self.domain(of: presentity)
        let found: WatchPolicy? = state.withLock { state in
            if !state.entries.isEmpty, let rule = state.entries[presentity]?[watcher] { return rule.policy }
            return state.defaults[String(domain)]
        }
        if let found { return found }
        return Self.domain(of: watcher) == domain ? .allow : .block
    }

    /// `user`'s entries, ordered by watcher (from memory).
    public func entries(user: String) -> [AccessEntry] {
        let rules = state.withLock { $0.entries[user] ?? [:] }
        return rules.map { AccessEntry(user: user, watcher: $0.key, rule: $0.value) }
            .sorted { $0.watcher < $1.watcher }
    }

    /// The default configured for `domain`, nil when the built-in one applies (from memory).
    public func configuredDefault(domain: String) -> WatchPolicy? {
        state.withLock { $0.defaults[domain.lowercased()] }
    }

    /// Reloads everything when the store's ACL generation moved since the last load. Returns
    /// the presentities whose decisions may have changed: every user whose entries differ,
    /// plus `"*@" + domain` for every domain whose default changed (all its users); nil when
    /// the generation did not move.
    @discardableResult
    public func refreshIfChanged() async throws(StoreError) -> Set<String>? {
        let current = try await store.accessGeneration()
        guard current != state.withLock({ $0.generation }) else { return nil }
        return try await reload()
    }

    /// Loads everything, swaps it in, and returns what changed (see ``refreshIfChanged()``).
    private func reload() async throws(StoreError) -> Set<String> {
        // Read the generation first: a change racing the load is seen by the next refresh.
        let generation = try await store.accessGeneration()
        let defaults = try await store.accessDefaults()
        let all = try await store.allAccessEntries()
        var entries: [String: [String: AccessRule]] = [:]
        for entry in all { entries[entry.user, default: [:]][entry.watcher] = entry.rule }
        let fresh = State(defaults: defaults, entries: entries, generation: generation)
        let old = state.withLock { state in
            let old = state
            state = fresh
            return old
        }
        logger.info("access lists loaded", metadata: ["store.acl_entries": "\(all.count)",
                                                       "store.acl_defaults": "\(defaults.count)"])
        return Self.changes(from: old, to: fresh)
    }

    static func changes(from old: State, to new: State) -> Set<String> {
        var changed = Set<String>()
        for user in Set(old.entries.keys).union(new.entries.keys) where old.entries[user] != new.entries[user] {
            changed.insert(user)
        }
        for domain in Set(old.defaults.keys).union(new.defaults.keys) where old.defaults[domain] != new.defaults[domain] {
            changed.insert("*@" + domain)
        }
        return changed
    }

    /// Checks for changes every `interval` until the task is cancelled, calling `onChange`
    /// with what ``refreshIfChanged()`` reports (the presence agent re-decides those
    /// subscriptions and notifies, so a change reaches live subscriptions within `interval`).
    public func runRefresher(every interval: Duration = .seconds(1),
                             onChange: @escaping @Sendable (Set<String>) -> Void) async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { return }
            do {
                if let changed = try await refreshIfChanged(), !changed.isEmpty { onChange(changed) }
            } catch {
                logger.warning("access list refresh failed", metadata: ["store.error": "\(error)"])
            }
        }
    }

    /// The domain part of an AOR (after the last `@`), empty when there is none.
    static func domain(of aor: String) -> Substring {
        // By byte: "@" is ASCII, so its index is a character boundary.
        guard let at = aor.utf8.lastIndex(of: UInt8(ascii: "@")) else { return "" }
        return aor[aor.utf8.index(after: at)...]
    }

    /// What `sipctl acl list USER` prints: one `allow WATCHER` / `block WATCHER` line per entry
    /// (sorted by watcher), then the default that applies to everyone else, configured for the
    /// user's domain (`default pending (example.com, configured)`) or built in
    /// (`default built-in (example.com): allow example.com watchers, block others`).
    public static func listing(user: String, entries: [AccessEntry], defaults: [String: WatchPolicy]) -> [String] {
        var lines = entries.filter { $0.user == user }.sorted { $0.watcher < $1.watcher }
            .map { "\($0.rule.rawValue) \($0.watcher)" }
        let domain = String(domain(of: user))
        if let policy = defaults[domain] {
            lines.append("default \(policy.rawValue) (\(domain), configured)")
        } else {
            lines.append("default built-in (\(domain)): allow \(domain) watchers, block others")
        }
        return lines
    }
}
