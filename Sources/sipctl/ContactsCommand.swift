import ArgumentParser
import Foundation
import Store

/// `sipctl --data DIR contacts ...` (CONTRACT.md): a user's roaming contact list (LCS 2003
/// "roaming contacts"), the one their clients read when they sign in. Every change bumps the
/// list's `deltaNum`; a running home server tells the user's signed-in devices within about
/// a second (NOTIFY on their `vnd-microsoft-roaming-contacts` subscriptions).
struct ContactsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "contacts",
        abstract: "Show and change users' roaming contact lists (signed-in devices are told).",
        subcommands: [ContactsList.self, ContactsAdd.self, ContactsRemove.self]
    )

    /// The group a contact goes to when `contacts add` names none and the list has no group.
    static let defaultGroup = "Other Contacts"
}

protocol ContactsSubcommand: StoreSubcommand {}

extension ContactsSubcommand {
    /// Applies one change, with `unknownUser` explained.
    func change(_ store: SQLiteStore, _ user: String, _ change: ContactListChange) async throws -> ContactListUpdate {
        try await perform { () async throws(StoreError) in
            do throws(StoreError) {
                return try await store.apply(user: user, change)
            } catch {
                guard error.code == .unknownUser else { throw error }
                throw StoreError(.unknownUser, "no user \(user) in the directory (add it with 'sipctl user add')")
            }
        }
    }
}

struct ContactsList: ContactsSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Print USER's list: `deltaNum N`, then `group ID NAME` lines, then `contact URI \"NAME\" groups=G1,G2` lines.",
        discussion: "A contact the user's clients do not subscribe to ends with ` unsubscribed`.")
    @ParentCommand var root: SipCtl
    @Argument(help: "The user, user@domain.") var user: String

    func run() async throws {
        let user = try parseAOR(user)
        try await requireSharedUser(user)
        let store = try openStore()
        let list = try await perform { () async throws(StoreError) in try await store.contactList(user: user) }
        for line in ContactLists.listing(list) { print(line) }
    }
}

struct ContactsAdd: ContactsSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add CONTACT to USER's list, or change its name and add it to a group.",
        discussion: """
            The group is created when the list has none of that name. Without --group, the list's first \
            group is used (or "\(ContactsCommand.defaultGroup)" is created). Limits: \(ContactList.maxContacts) \
            contacts and \(ContactList.maxGroups) groups per list.
            """)
    @ParentCommand var root: SipCtl
    @Argument(help: "The user, user@domain.") var user: String
    @Argument(help: "The contact, user@domain of any domain.") var contact: String
    @Option(help: "The group to put the contact in (by name).") var group: String?
    @Option(help: "The contact's display name.") var name: String?

    func run() async throws {
        let user = try parseAOR(user)
        let contact = try parseAOR(contact)
        try await requireSharedUser(user)
        let store = try openStore()
        var list = try await perform { () async throws(StoreError) in try await store.contactList(user: user) }
        let groupName = group ?? list.groups.first?.name ?? ContactsCommand.defaultGroup
        let groupID: Int
        if let existing = list.group(named: groupName) {
            groupID = existing.id
        } else {
            let update = try await change(store, user, .addGroup(name: groupName))
            list = update.list
            groupID = update.addedGroupID ?? 0
        }
        var entry = list.contact(contact) ?? RoamingContact(uri: contact)
        if let name { entry.name = name }
        if !entry.groups.contains(groupID) { entry.groups.append(groupID) }
        let update = try await change(store, user, .setContact(entry))
        print("\(contact) is in \(user)'s list, group \(groupName) (deltaNum \(update.list.deltaNum))")
    }
}

struct ContactsRemove: ContactsSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "remove", abstract: "Remove CONTACT from USER's list (exit 1 when it is not there).")
    @ParentCommand var root: SipCtl
    @Argument(help: "The user, user@domain.") var user: String
    @Argument(help: "The contact, user@domain.") var contact: String

    func run() async throws {
        let user = try parseAOR(user)
        let contact = try parseAOR(contact)
        try await requireSharedUser(user)
        let store = try openStore()
        let update = try await change(store, user, .deleteContact(uri: contact))
        print("removed \(contact) from \(user)'s list (deltaNum \(update.list.deltaNum))")
    }
}
