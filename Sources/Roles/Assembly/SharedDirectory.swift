import Logging
import Store
import StorePostgres

/// `--directory postgresql://...`: the users, their directory fields and the access lists
/// come from a PostgreSQL shared by several servers; bindings, presence state and contact
/// lists stay in the embedded store. The hot path still reads only the in-memory
/// ``UserDirectory`` and ``AccessLists``, loaded at start and refreshed about once a second.
enum SharedDirectory {
    /// The shared directory, connected and migrated; nil without `--directory`. An unreachable
    /// database fails the start with one line.
    static func open(settings: ServerSettings, logger: Logger) async throws -> PostgresDirectory? {
        guard let url = settings.directory else { return nil }
        do {
            let directory = try await PostgresDirectory.open(url: url, logger: logger)
            logger.info("shared directory", metadata: ["store.directory": "\(directory.location)"])
            return directory
        } catch where error.code == .invalidValue {
            throw RolesError(.badConfiguration, error.reason)  // a URL without a user, say
        } catch {
            throw RolesError(.startupFailed, "cannot open the directory: \(error.reason)")
        }
    }
}

/// What the roaming agent writes and reads: access lists and directory fields from the shared
/// directory, contact lists from the embedded store.
struct SplitRoamingStore: AccessListStore, ContactListStore {
    let directory: any SharedDirectoryStore
    let local: SQLiteStore

    func accessDefaults() async throws(StoreError) -> [String: WatchPolicy] { try await directory.accessDefaults() }
    func setAccessDefault(domain: String, policy: WatchPolicy) async throws(StoreError) {
        try await directory.setAccessDefault(domain: domain, policy: policy)
    }
    func accessEntries(user: String) async throws(StoreError) -> [AccessEntry] { try await directory.accessEntries(user: user) }
    func allAccessEntries() async throws(StoreError) -> [AccessEntry] { try await directory.allAccessEntries() }
    func setAccess(user: String, watcher: String, rule: AccessRule) async throws(StoreError) {
        try await directory.setAccess(user: user, watcher: watcher, rule: rule)
    }
    func removeAccess(user: String, watcher: String) async throws(StoreError) -> Bool {
        try await directory.removeAccess(user: user, watcher: watcher)
    }
    func accessGeneration() async throws(StoreError) -> Int64 { try await directory.accessGeneration() }

    func contactList(user: String) async throws(StoreError) -> ContactList { try await local.contactList(user: user) }
    func allContactLists() async throws(StoreError) -> [ContactList] { try await local.allContactLists() }
    func apply(user: String, _ change: ContactListChange) async throws(StoreError) -> ContactListUpdate {
        try await local.apply(user: user, change)
    }
    func contactsGeneration() async throws(StoreError) -> Int64 { try await local.contactsGeneration() }

    func directoryEntry(_ aor: String) async throws(StoreError) -> DirectoryEntry { try await directory.directoryEntry(aor) }
    func updateDirectory(_ aor: String, _ update: DirectoryUpdate) async throws(StoreError) {
        try await directory.updateDirectory(aor, update)
    }
    func searchDirectory(_ query: DirectoryQuery) async throws(StoreError) -> (entries: [DirectoryEntry], more: Bool) {
        try await directory.searchDirectory(query)
    }
}
