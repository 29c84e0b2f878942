import Foundation
import GRDB

/// Migration "v3-contacts": each user's roaming contact list (groups, contacts, a version
/// `deltaNum` per list), a generation bumped by every change (so that a running server sees
/// `sipctl contacts ...`), and the directory fields of users with their searchable flag.
let contactsSchemaSQL = """
    CREATE TABLE contact_list (
        user TEXT PRIMARY KEY NOT NULL,
        delta_num INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE contact_group (
        user TEXT NOT NULL,
        id INTEGER NOT NULL,
        name TEXT NOT NULL,
        PRIMARY KEY (user, id)
    ) WITHOUT ROWID;
    CREATE TABLE contact (
        user TEXT NOT NULL,
        uri TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        groups TEXT NOT NULL DEFAULT '',
        subscribed INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (user, uri)
    ) WITHOUT ROWID;
    CREATE TABLE contacts_meta (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        generation INTEGER NOT NULL
    );
    INSERT INTO contacts_meta (id, generation) VALUES (1, 0);
    ALTER TABLE user ADD COLUMN title TEXT;
    ALTER TABLE user ADD COLUMN office TEXT;
    ALTER TABLE user ADD COLUMN phone TEXT;
    ALTER TABLE user ADD COLUMN company TEXT;
    ALTER TABLE user ADD COLUMN email TEXT;
    ALTER TABLE user ADD COLUMN searchable INTEGER NOT NULL DEFAULT 1;
    """

extension SQLiteStore: ContactListStore {
    static let bumpContactsGenerationSQL = "UPDATE contacts_meta SET generation = generation + 1 WHERE id = 1"

    static func userExists(_ user: String, _ db: Database) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT 1 FROM user WHERE aor = ?", arguments: [user]) != nil
    }

    /// Reads `user`'s list inside a transaction.
    static func readList(_ user: String, _ db: Database) throws -> ContactList {
        let delta = try Int64.fetchOne(db, sql: "SELECT delta_num FROM contact_list WHERE user = ?", arguments: [user]) ?? 0
        let groups = try Row.fetchAll(db, sql: "SELECT id, name FROM contact_group WHERE user = ? ORDER BY id",
                                      arguments: [user]).map { ContactGroup(id: $0["id"], name: $0["name"]) }
        let contacts = try Row.fetchAll(db, sql: "SELECT * FROM contact WHERE user = ? ORDER BY uri", arguments: [user])
            .map { row -> RoamingContact in
                let groups: String = row["groups"] ?? ""
                return RoamingContact(uri: row["uri"], name: row["name"] ?? "",
                                      groups: groups.split(separator: " ").compactMap { Int($0) },
                                      subscribed: row["subscribed"] ?? true)
            }
        return ContactList(user: user, deltaNum: delta, groups: groups, contacts: contacts)
    }

    public func contactList(user: String) async throws(StoreError) -> ContactList {
        let user = try Self.normalizedAOR(user, "user")
        let anyUser = usersElsewhere
        return try await read("read contact list") { db in
            guard try anyUser || Self.userExists(user, db) else { throw StoreError(.unknownUser, "no user \(user)") }
            return try Self.readList(user, db)
        }
    }

    public func allContactLists() async throws(StoreError) -> [ContactList] {
        try await read("read contact lists") { db in
            try String.fetchAll(db, sql: "SELECT user FROM contact_list ORDER BY user").map { try Self.readList($0, db) }
        }
    }

    public func contactsGeneration() async throws(StoreError) -> Int64 {
        try await read("read contacts generation") { db in
            try Int64.fetchOne(db, sql: "SELECT generation FROM contacts_meta WHERE id = 1") ?? 0
        }
    }

    /// Checks a name against ``ContactList/maxNameLength`` and control characters.
    public static func checkName(_ name: String, _ what: String) throws(StoreError) {
        guard name.count <= ContactList.maxNameLength else {
            throw StoreError(.invalidValue, "\(what) longer than \(ContactList.maxNameLength) characters")
        }
        guard !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else {
            throw StoreError(.invalidValue, "\(what) contains control characters")
        }
    }

    /// Validates `change` (before the transaction) and normalizes its URIs.
    static func validated(_ change: ContactListChange) throws(StoreError) -> ContactListChange {
        switch change {
        case .setContact(var contact):
            contact.uri = try normalizedAOR(contact.uri, "contact")
            try checkName(contact.name, "display name")
            contact.groups = Array(Set(contact.groups)).sorted()
            return .setContact(contact)
        case .deleteContact(let uri):
            return .deleteContact(uri: try normalizedAOR(uri, "contact"))
        case .addGroup(let name), .modifyGroup(_, let name):
            try checkName(name, "group name")
            guard !name.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw StoreError(.invalidValue, "a group needs a name")
            }
            return change
        case .deleteGroup:
            return change
        }
    }

    public func apply(user: String, _ change: ContactListChange) async throws(StoreError) -> ContactListUpdate {
        let user = try Self.normalizedAOR(user, "user")
        let change = try Self.validated(change)
        let anyUser = usersElsewhere
        let update = try await write("change contact list") { db -> ContactListUpdate in
            guard try anyUser || Self.userExists(user, db) else { throw StoreError(.unknownUser, "no user \(user)") }
            let list = try Self.readList(user, db)
            let added = try Self.perform(change, on: list, db)
            let delta = list.deltaNum + 1
            try db.execute(sql: "INSERT OR REPLACE INTO contact_list (user, delta_num) VALUES (?, ?)",
                           arguments: [user, delta])
            try db.execute(sql: Self.bumpContactsGenerationSQL)
            return ContactListUpdate(list: try Self.readList(user, db), addedGroupID: added)
        }
        try await syncIfDue()
        return update
    }

    /// Writes one change of `list` (read in the same transaction); the id of an added group.
    static func perform(_ change: ContactListChange, on list: ContactList, _ db: Database) throws -> Int? {
        let user = list.user
        switch change {
        case .setContact(let contact):
            for id in contact.groups where list.group(id: id) == nil {
                throw StoreError(.invalidValue, "no group \(id) in \(user)'s list")
            }
            if list.contact(contact.uri) == nil, list.contacts.count >= ContactList.maxContacts {
                throw StoreError(.limitExceeded, "\(user)'s list has \(ContactList.maxContacts) contacts already")
            }
            try db.execute(sql: "INSERT OR REPLACE INTO contact (user, uri, name, groups, subscribed) VALUES (?, ?, ?, ?, ?)",
                           arguments: [user, contact.uri, contact.name,
                                       contact.groups.map(String.init).joined(separator: " "), contact.subscribed])
            return nil
        case .deleteContact(let uri):
            try db.execute(sql: "DELETE FROM contact WHERE user = ? AND uri = ?", arguments: [user, uri])
            guard db.changesCount > 0 else { throw StoreError(.notFound, "\(uri) is not in \(user)'s list") }
            return nil
        case .addGroup(let name):
            guard list.groups.count < ContactList.maxGroups else {
                throw StoreError(.limitExceeded, "\(user)'s list has \(ContactList.maxGroups) groups already")
            }
            guard list.group(named: name) == nil else {
                throw StoreError(.invalidValue, "\(user)'s list has a group named \(name) already")
            }
            let id = (list.groups.map(\.id).max() ?? 0) + 1
            try db.execute(sql: "INSERT INTO contact_group (user, id, name) VALUES (?, ?, ?)", arguments: [user, id, name])
            return id
        case .modifyGroup(let id, let name):
            try db.execute(sql: "UPDATE contact_group SET name = ? WHERE user = ? AND id = ?", arguments: [name, user, id])
            guard db.changesCount > 0 else { throw StoreError(.notFound, "no group \(id) in \(user)'s list") }
            return nil
        case .deleteGroup(let id):
            try db.execute(sql: "DELETE FROM contact_group WHERE user = ? AND id = ?", arguments: [user, id])
            guard db.changesCount > 0 else { throw StoreError(.notFound, "no group \(id) in \(user)'s list") }
            for contact in list.contacts where contact.groups.contains(id) {
                let groups = contact.groups.filter { $0 != id }.map(String.init).joined(separator: " ")
                try db.execute(sql: "UPDATE contact SET groups = ? WHERE user = ? AND uri = ?",
                               arguments: [groups, user, contact.uri])
            }
            return nil
        }
    }

    // MARK: - Directory fields

    static func directoryEntry(_ row: Row) -> DirectoryEntry {
        DirectoryEntry(aor: row["aor"], displayName: row["display_name"] ?? "", title: row["title"] ?? "",
                       office: row["office"] ?? "", phone: row["phone"] ?? "", company: row["company"] ?? "",
                       email: row["email"] ?? "", searchable: row["searchable"] ?? true)
    }

    public func directoryEntry(_ aor: String) async throws(StoreError) -> DirectoryEntry {
        let aor = try Self.normalizedAOR(aor, "user")
        let entry = try await read("read directory entry") { db in
            try Row.fetchOne(db, sql: "SELECT * FROM user WHERE aor = ?", arguments: [aor]).map(Self.directoryEntry)
        }
        guard let entry else { throw StoreError(.unknownUser, "no user \(aor)") }
        return entry
    }

    public func updateDirectory(_ aor: String, _ update: DirectoryUpdate) async throws(StoreError) {
        let aor = try Self.normalizedAOR(aor, "user")
        let texts: [(String, String?)] = [("display_name", update.displayName), ("title", update.title),
                                          ("office", update.office), ("phone", update.phone),
                                          ("company", update.company), ("email", update.email)]
        var sets: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        for (column, value) in texts {
            guard let value else { continue }
            try Self.checkName(value, column.replacingOccurrences(of: "_", with: " "))
            sets.append("\(column) = ?")
            arguments.append(value)
        }
        if let searchable = update.searchable {
            sets.append("searchable = ?")
            arguments.append(searchable)
        }
        guard !sets.isEmpty else { return }
        arguments.append(aor)
        try await updateUser(aor, "set directory fields", sql: "UPDATE user SET \(sets.joined(separator: ", ")) WHERE aor = ?",
                             StatementArguments(arguments))
    }

    /// `LIKE` pattern matching `text` anywhere, with `%`, `_` and `\` escaped.
    public static func containsPattern(_ text: String) -> String {
        var out = "%"
        for c in text.lowercased() {
            if c == "%" || c == "_" || c == "\\" { out.append("\\") }
            out.append(c)
        }
        return out + "%"
    }

    public func searchDirectory(_ query: DirectoryQuery) async throws(StoreError) -> (entries: [DirectoryEntry], more: Bool) {
        let limit = max(1, min(query.limit, DirectoryQuery.maxLimit))
        var clauses = ["searchable = 1", "enabled = 1"]
        var arguments: [(any DatabaseValueConvertible)?] = []
        func like(_ expression: String, _ value: String?) {
            guard let value, !value.isEmpty else { return }
            clauses.append("\(expression) LIKE ? ESCAPE '\\'")
            arguments.append(Self.containsPattern(value))
        }
        like("(lower(coalesce(display_name, '')) || ' ' || lower(aor) || ' ' || lower(coalesce(email, '')))", query.text)
        like("lower(coalesce(display_name, ''))", query.givenName)
        like("lower(coalesce(display_name, ''))", query.surname)
        like("lower(coalesce(email, ''))", query.email)
        like("lower(aor)", query.uri.map { AOR.normalize($0) ?? $0 })
        if let domain = query.domain {
            clauses.append("aor LIKE ? ESCAPE '\\'")
            let escaped = Self.containsPattern(domain).dropFirst().dropLast()
            arguments.append("%@" + String(escaped))
        }
        arguments.append(limit + 1)
        let sql = "SELECT * FROM user WHERE \(clauses.joined(separator: " AND ")) ORDER BY aor LIMIT ?"
        let bound = StatementArguments(arguments)
        let rows = try await read("search directory") { db in
            try Row.fetchAll(db, sql: sql, arguments: bound).map(Self.directoryEntry)
        }
        return (Array(rows.prefix(limit)), rows.count > limit)
    }
}
