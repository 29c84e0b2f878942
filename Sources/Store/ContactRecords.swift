/// One group of a user's roaming contact list (LCS 2003 "roaming contacts": the list lives
/// on the home server, so it is the same wherever the user signs in).
public struct ContactGroup: Hashable, Sendable {
    /// Unique within the user's list, assigned by the server (`addGroup` answers it).
    public var id: Int
    public var name: String

    public init(id: Int, name: String) {
        self.id = id
        self.name = name
    }
}

/// One contact of a user's roaming list.
public struct RoamingContact: Hashable, Sendable {
    /// The contact's address-of-record `user@domain` (``AOR``), any domain.
    public var uri: String
    /// The display name the user gave the contact (may be empty).
    public var name: String
    /// The ids of the groups it is in, ascending.
    public var groups: [Int]
    /// Whether the user's client subscribes to the contact's presence.
    public var subscribed: Bool

    public init(uri: String, name: String = "", groups: [Int] = [], subscribed: Bool = true) {
        self.uri = uri
        self.name = name
        self.groups = groups
        self.subscribed = subscribed
    }
}

/// A user's whole roaming contact list with its version: `deltaNum` grows by one with every
/// change, so a client (and a NOTIFY) can tell which list is newer.
public struct ContactList: Hashable, Sendable {
    public var user: String
    public var deltaNum: Int64
    /// Ordered by id.
    public var groups: [ContactGroup]
    /// Ordered by URI.
    public var contacts: [RoamingContact]

    public init(user: String, deltaNum: Int64 = 0, groups: [ContactGroup] = [], contacts: [RoamingContact] = []) {
        self.user = user
        self.deltaNum = deltaNum
        self.groups = groups
        self.contacts = contacts
    }

    public func group(id: Int) -> ContactGroup? { groups.first { $0.id == id } }
    public func group(named name: String) -> ContactGroup? { groups.first { $0.name == name } }
    public func contact(_ uri: String) -> RoamingContact? { contacts.first { $0.uri == uri } }

    /// The bounds of one list (ARCHITECTURE.md: every table has a cap; over it the change is
    /// refused with `.limitExceeded`, which a request answers 403 to).
    public static let maxContacts = 1000
    public static let maxGroups = 64
    /// Names (display names, group names) longer than this are refused.
    public static let maxNameLength = 256
}

/// One change of a roaming list, applied in one transaction that also bumps `deltaNum`
/// (the SOAP operations of LCS 2003 clients map one to one onto these).
public enum ContactListChange: Hashable, Sendable {
    /// Adds or replaces a contact (`setContact`). The groups must exist.
    case setContact(RoamingContact)
    /// `deleteContact`; `.notFound` when the list has no such contact.
    case deleteContact(uri: String)
    /// `addGroup`: the new group's id is the largest so far plus one (starting at 1).
    case addGroup(name: String)
    /// `modifyGroup`: renames the group.
    case modifyGroup(id: Int, name: String)
    /// `deleteGroup`: contacts leave it (they stay in the list).
    case deleteGroup(id: Int)
}

/// What one applied change produced: the new list, and for `addGroup` the id assigned.
public struct ContactListUpdate: Hashable, Sendable {
    public var list: ContactList
    public var addedGroupID: Int?

    public init(list: ContactList, addedGroupID: Int? = nil) {
        self.list = list
        self.addedGroupID = addedGroupID
    }
}

/// The directory fields of a user (LCS 2003's company directory, [MS-PRES] §2.2.1
/// `directorySearch` rows), and whether searches may find the user at all.
public struct DirectoryEntry: Hashable, Sendable {
    public var aor: String
    public var displayName: String
    public var title: String
    public var office: String
    public var phone: String
    public var company: String
    public var email: String
    /// False: never returned by a search (hidden user).
    public var searchable: Bool

    public init(aor: String, displayName: String = "", title: String = "", office: String = "", phone: String = "",
                company: String = "", email: String = "", searchable: Bool = true) {
        self.aor = aor
        self.displayName = displayName
        self.title = title
        self.office = office
        self.phone = phone
        self.company = company
        self.email = email
        self.searchable = searchable
    }
}

/// Changes to a user's directory fields: nil leaves a field as it is.
public struct DirectoryUpdate: Hashable, Sendable {
    public var displayName: String?
    public var title: String?
    public var office: String?
    public var phone: String?
    public var company: String?
    public var email: String?
    public var searchable: Bool?

    public init(displayName: String? = nil, title: String? = nil, office: String? = nil, phone: String? = nil,
                company: String? = nil, email: String? = nil, searchable: Bool? = nil) {
        self.displayName = displayName
        self.title = title
        self.office = office
        self.phone = phone
        self.company = company
        self.email = email
        self.searchable = searchable
    }

    public var isEmpty: Bool { self == DirectoryUpdate() }
}

/// A directory search: searchable users of `domain` (never of another) matching every
/// criterion given (case-insensitive substring), at most `limit` of them.
public struct DirectoryQuery: Hashable, Sendable {
    /// Matches the display name, the AOR or the e-mail.
    public var text: String?
    public var givenName: String?
    public var surname: String?
    public var email: String?
    public var uri: String?
    /// Only users of this domain; nil: every domain (the operator's `sipctl directory search`).
    public var domain: String?
    public var limit: Int

    public static let maxLimit = 100

    public init(text: String? = nil, givenName: String? = nil, surname: String? = nil, email: String? = nil,
                uri: String? = nil, domain: String? = nil, limit: Int = 20) {
        self.text = text
        self.givenName = givenName
        self.surname = surname
        self.email = email
        self.uri = uri
        self.domain = domain
        self.limit = limit
    }
}

/// Roaming contact lists and directory fields (ARCHITECTURE.md: the home server is the store
/// of its users' contact lists). The hot path never reads it: ``ContactLists`` serves lists
/// from memory and reloads when ``contactsGeneration()`` moves.
public protocol ContactListStore: DirectoryFieldsStore {
    /// `user`'s list (empty with deltaNum 0 when they have none). `.unknownUser` when not in
    /// the directory.
    func contactList(user: String) async throws(StoreError) -> ContactList
    /// Every non-empty list.
    func allContactLists() async throws(StoreError) -> [ContactList]
    /// Applies one change and bumps the list's deltaNum, in one transaction. Fails with
    /// `.unknownUser`, `.invalidValue` (bad URI, unknown group, long name), `.notFound`, or
    /// `.limitExceeded`.
    func apply(user: String, _ change: ContactListChange) async throws(StoreError) -> ContactListUpdate
    /// Changes whenever any list changes (any process).
    func contactsGeneration() async throws(StoreError) -> Int64
}

/// The directory fields of users (display name, title, office, ... and whether they may be
/// found by a search): in the directory, so shared with it (`--directory`).
public protocol DirectoryFieldsStore: Sendable {
    /// Fails with `.unknownUser`.
    func directoryEntry(_ aor: String) async throws(StoreError) -> DirectoryEntry
    /// Fails with `.unknownUser`.
    func updateDirectory(_ aor: String, _ update: DirectoryUpdate) async throws(StoreError)
    /// Searchable users matching `query`, ordered by AOR; `more` when more than `limit` matched.
    func searchDirectory(_ query: DirectoryQuery) async throws(StoreError) -> (entries: [DirectoryEntry], more: Bool)
}
