import Logging
import Synchronization

/// The directory of users held in memory (ARCHITECTURE.md "Directory"), so that the registrar
/// (unknown user 404, disabled 403) and digest authentication (HA1s) never read SQLite per
/// request. Loaded whole at start; reloaded when the directory's generation changes (another
/// process, such as `sipctl user disable`, changed it), checked by ``refreshIfChanged()``.
///
/// Reads are synchronous under a lock (no actor hop on the REGISTER / digest hot path); only
/// a miss or a reload touches the store.
public final class UserDirectory: Sendable {
    let store: any DirectoryStore
    let logger: Logger
    private struct State {
        var users: [String: UserRecord] = [:]
        var generation: Int64 = -1
    }
    private let state = Mutex(State())

    private init(store: any DirectoryStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    /// Loads every user of `store` into memory.
    public static func load(from store: any DirectoryStore,
                            logger: Logger = Logger(label: "sip.directory")) async throws(StoreError) -> UserDirectory {
        let directory = UserDirectory(store: store, logger: logger)
        try await directory.reload()
        return directory
    }

    /// The user with this address-of-record (`user@domain`, see ``AOR``). A user missing from
    /// memory is looked up in the store once (it may have been added since the last reload).
    /// A failed store read answers nil (logged); ``find(_:)`` tells it apart.
    public func user(_ aor: String) async -> UserRecord? {
        do { return try await find(aor) } catch {
            logger.warning("directory read failed", metadata: ["store.error": "\(error)", "sip.aor": "\(aor)"])
            return nil
        }
    }

    /// As ``user(_:)``, but a failed store read throws (`.unavailable`, status 500) instead of
    /// looking like an unknown user.
    public func find(_ aor: String) async throws(StoreError) -> UserRecord? {
        if let user = memoryUser(aor) { return user }
        guard let user = try await store.user(aor) else { return nil }
        state.withLock { $0.users[aor] = user }
        return user
    }

    /// The user from memory only (never touches the store): the synchronous read of the
    /// hot path (digest, location). Users added by `sipctl` appear with the next refresh.
    public func cachedUser(_ aor: String) -> UserRecord? { memoryUser(aor) }

    public var count: Int { get async { state.withLock { $0.users.count } } }

    private func memoryUser(_ aor: String) -> UserRecord? { state.withLock { $0.users[aor] } }

    /// Reloads every user when the store's directory generation moved since the last load.
    /// Returns whether it reloaded.
    @discardableResult
    public func refreshIfChanged() async throws(StoreError) -> Bool {
        let current = try await store.directoryGeneration()
        guard current != state.withLock({ $0.generation }) else { return false }
        try await reload()
        return true
    }

    private func reload() async throws(StoreError) {
        let current = try await store.directoryGeneration()
        let all = try await store.allUsers()
        var users: [String: UserRecord] = [:]
        users.reserveCapacity(all.count)
        for user in all { users[user.aor] = user }
        let loaded = users.count
        state.withLock { $0 = State(users: users, generation: current) }
        logger.info("directory loaded", metadata: ["store.users": "\(loaded)"])
    }

    /// Checks for changes every `interval` until the task is cancelled.
    public func runRefresher(every interval: Duration = .seconds(2)) async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { return }
            do { try await refreshIfChanged() } catch {
                logger.warning("directory refresh failed", metadata: ["store.error": "\(error)"])
            }
        }
    }
}
