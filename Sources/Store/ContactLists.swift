import Logging
import Synchronization

/// Every user's roaming contact list held in memory, like ``AccessLists``: a SUBSCRIBE to
/// `vnd-microsoft-roaming-contacts` is answered from memory, on the event loop that read it.
/// Loaded whole at start; changes made through ``apply(user:_:)`` are written to the store
/// first, then swapped in; changes made by another process (`sipctl contacts ...`) are picked
/// up when the store's contacts generation moves (``refreshIfChanged()``).
public final class ContactLists: Sendable {
    let store: any ContactListStore
    let logger: Logger
    struct State {
        var lists: [String: ContactList] = [:]
        var generation: Int64 = -1
    }
    private let state = Mutex(State())

    private init(store: any ContactListStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    /// Loads every list of `store` into memory.
    public static func load(from store: any ContactListStore,
                            logger: Logger = Logger(label: "sip.contacts")) async throws(StoreError) -> ContactLists {
        let lists = ContactLists(store: store, logger: logger)
        _ = try await lists.reload()
        return lists
    }

    /// `user`'s list from memory (empty, deltaNum 0, when they have none).
    public func list(user: String) -> ContactList {
        state.withLock { $0.lists[user] } ?? ContactList(user: user)
    }

    /// Applies `change` to `user`'s list in the store (one transaction, deltaNum + 1), then in
    /// memory. Throws what the store throws; nothing changes then.
    public func apply(user: String, _ change: ContactListChange) async throws(StoreError) -> ContactListUpdate {
        let update = try await store.apply(user: user, change)
        state.withLock { s in
            // A concurrent change may have landed first: keep the newer list.
            if (s.lists[update.list.user]?.deltaNum ?? -1) < update.list.deltaNum {
                s.lists[update.list.user] = update.list
            }
        }
        logger.info("contact list changed", metadata: ["sip.aor": "\(update.list.user)",
                                                        "contacts.delta_num": "\(update.list.deltaNum)",
                                                        "contacts.change": "\(Self.name(of: change))"])
        return update
    }

    public static func name(of change: ContactListChange) -> String {
        switch change {
        case .setContact: "setContact"
        case .deleteContact: "deleteContact"
        case .addGroup: "addGroup"
        case .modifyGroup: "modifyGroup"
        case .deleteGroup: "deleteGroup"
        }
    }

    /// Reloads everything when the store's generation moved. Returns the users whose lists
    /// differ from memory (their devices are told), nil when the generation did not move.
    @discardableResult
    public func refreshIfChanged() async throws(StoreError) -> Set<String>? {
        let current = try await store.contactsGeneration()
        guard current != state.withLock({ $0.generation }) else { return nil }
        return try await reload()
    }

    private func reload() async throws(StoreError) -> Set<String> {
        let generation = try await store.contactsGeneration()
        let all = try await store.allContactLists()
        var lists: [String: ContactList] = [:]
        for list in all { lists[list.user] = list }
        let old = state.withLock { s in
            let old = s.lists
            s = State(lists: lists, generation: generation)
            return old
        }
        logger.info("contact lists loaded", metadata: ["store.contact_lists": "\(all.count)"])
        var changed = Set<String>()
        for user in Set(old.keys).union(lists.keys) where old[user] != lists[user] { changed.insert(user) }
        return changed
    }

    /// Checks for changes every `interval` until cancelled, calling `onChange` with the users
    /// whose lists changed.
    public func runRefresher(every interval: Duration = .seconds(1),
                             onChange: @escaping @Sendable (Set<String>) -> Void) async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { return }
            do {
                if let changed = try await refreshIfChanged(), !changed.isEmpty { onChange(changed) }
            } catch {
                logger.warning("contact list refresh failed", metadata: ["store.error": "\(error)"])
            }
        }
    }

    /// What `sipctl contacts list USER` prints: `deltaNum N`, one `group ID NAME` line per
    /// group, then one `contact URI "NAME" groups=G1,G2 [unsubscribed]` line per contact
    /// (group names, comma-separated).
    public static func listing(_ list: ContactList) -> [String] {
        var lines = ["deltaNum \(list.deltaNum)"]
        for group in list.groups { lines.append("group \(group.id) \(group.name)") }
        for contact in list.contacts {
            let groups = contact.groups.compactMap { list.group(id: $0)?.name }.joined(separator: ",")
            var line = "contact \(contact.uri) \"\(contact.name)\" groups=\(groups)"
            if !contact.subscribed { line += " unsubscribed" }
            lines.append(line)
        }
        return lines
    }
}
