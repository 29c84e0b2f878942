/// The directory of users (ARCHITECTURE.md "Directory"). The SQLite implementation is
/// ``SQLiteStore``; a shared PostgreSQL one may stand beside it.
public protocol DirectoryStore: Sendable {
    func user(_ aor: String) async throws(StoreError) -> UserRecord?
    func allUsers() async throws(StoreError) -> [UserRecord]
    /// Fails with `.duplicateUser` when the AOR exists.
    func addUser(_ user: UserRecord) async throws(StoreError)
    /// Adds many users in one transaction; all or nothing. Fails with `.duplicateUser` naming
    /// the first AOR that exists already (or appears twice).
    func importUsers(_ users: [UserRecord]) async throws(StoreError)
    /// Fails with `.unknownUser`.
    func setEnabled(_ aor: String, _ enabled: Bool) async throws(StoreError)
    /// Replaces both HA1s. Fails with `.unknownUser`.
    func setCredentials(_ aor: String, ha1MD5: [UInt8], ha1SHA256: [UInt8]) async throws(StoreError)
    /// Removes the user and its bindings. Fails with `.unknownUser`.
    func removeUser(_ aor: String) async throws(StoreError)
    /// A number that changes whenever the directory changes (any process), so that a
    /// cache can tell when to reload.
    func directoryGeneration() async throws(StoreError) -> Int64
}

/// Persistence of registration bindings (RFC 3261 §10.3). The hot path never reads it: the
/// ``LocationTable`` serves lookups from memory and writes through in batches.
public protocol BindingStore: Sendable {
    /// Every binding not expired at `now` (loaded into memory at start).
    func loadBindings(now: Int64) async throws(StoreError) -> [Binding]
    /// Applies the changes in order, in one transaction: all or nothing.
    func apply(_ changes: [BindingChange]) async throws(StoreError)
    /// Deletes bindings with `expiresAt <= now`; returns how many.
    func purgeExpired(now: Int64) async throws(StoreError) -> Int
}

/// What servers of a deployment may share (`--directory`): the users, their directory fields
/// and the presence access lists. The embedded ``SQLiteStore`` is one; a PostgreSQL one stands beside it
/// (StorePostgres). Bindings, presence state and contact lists stay in each server's own store.
public protocol SharedDirectoryStore: DirectoryStore, AccessListStore, DirectoryFieldsStore {
    /// Adds `users` in one transaction. `replace`: a user that exists takes the new password
    /// and home server.
    func importUsers(_ users: [UserRecord], replace: Bool) async throws(StoreError)
}

extension SQLiteStore: SharedDirectoryStore {}
