import Logging

/// The directory of users held in memory (ARCHITECTURE.md "Directory"), so that the registrar
/// (unknown user 404, disabled 403) and digest authentication (HA1s) never read SQLite per
/// request. Loaded whole at start; reloaded when the directory's generation changes (another
/// process, such as `sipctl user disable`, changed it), checked by ``refreshIfChanged()``.
public actor UserDirectory {
    let store: any DirectoryStore
    let logger: Logger
    private var users: [String: UserRecord] = [:]
    private var generation: Int64 = -1

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
        if let user = users[aor] { return user }
        guard let user = try await store.user(aor) else { return nil }
        users[aor] = user
        return user
    }

    /// The user from memory only (never touches the store).
    public func cachedUser(_ aor: String) -> UserRecord? { users[aor] }

    public var count: Int { users.count }

    /// Reloads every user when the store's directory generation moved since the last load.
    /// Returns whether it reloaded.
    @discardableResult
    public func refreshIfChanged() async throws(StoreError) -> Bool {
        let current = try await store.directoryGeneration()
        guard current != generation else { return false }
        try await reload()
        return true
    }

    private func reload() async throws(StoreError) {
        let current = try await store.directoryGeneration()
        let all = try await store.allUsers()
        var users: [String: UserRecord] = [:]
        users.reserveCapacity(all.count)
        for user in all { users[user.aor] = user }
        self.users = users
        generation = current
        logger.info("directory loaded", metadata: ["store.users": "\(users.count)"])
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
