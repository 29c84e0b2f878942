import ArgumentParser
import Foundation
import Store

/// `sipctl --data DIR user set USER ...` (CONTRACT.md): a user's directory fields, what a
/// directory search ([MS-PRES] §2.2.1 `directorySearch`) returns about them.
struct UserSet: UserSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "set",
        abstract: "Set a user's directory fields (what directory searches return) and whether searches find them.",
        discussion: "Give at least one option; an empty string clears a field. A user with --searchable no is never returned by a search.")
    @ParentCommand var root: SipCtl
    @Argument(help: "The user, user@domain.") var user: String
    @Option(help: "Display name.") var displayName: String?
    @Option(help: "Job title.") var title: String?
    @Option(help: "Office.") var office: String?
    @Option(help: "Telephone number.") var phone: String?
    @Option(help: "Company.") var company: String?
    @Option(help: "E-mail address.") var email: String?
    @Option(help: "yes or no: whether directory searches may return this user.") var searchable: String?

    func run() async throws {
        let aor = try parseAOR(user)
        var update = DirectoryUpdate(displayName: displayName, title: title, office: office, phone: phone,
                                     company: company, email: email)
        if let searchable {
            switch searchable.lowercased() {
            case "yes", "true", "on": update.searchable = true
            case "no", "false", "off": update.searchable = false
            default: throw ValidationError("--searchable takes yes or no, not '\(searchable)'")
            }
        }
        guard !update.isEmpty else { throw ValidationError("nothing to set: give at least one field option") }
        let store = try await openDirectory()
        try await perform { () async throws(StoreError) in try await store.updateDirectory(aor, update) }
        print("updated \(aor)")
    }
}

/// `sipctl --data DIR directory search TEXT [--json]` (CONTRACT.md).
struct DirectoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "directory",
        abstract: "Search the user directory as clients do (hidden users are never returned).",
        subcommands: [DirectorySearch.self]
    )
}

struct DirectorySearch: StoreSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Searchable users whose display name, URI or e-mail contain TEXT (case-insensitive).",
        discussion: """
            Prints one tab-separated line per user: uri, display name, title, office, phone, company, \
            e-mail; or with --json one JSON object a line with the keys uri, display_name, title, office, \
            phone, company, email. Exit 0 also when nothing matches (nothing is printed). Disabled and \
            non-searchable users are never returned.
            """)
    @ParentCommand var root: SipCtl
    @Argument(help: "The text to look for.") var text: String
    @Option(help: "Only users of this domain.") var domain: String?
    @Option(help: "At most this many users (1-\(DirectoryQuery.maxLimit)).") var limit: Int = 50
    @Flag(help: "One JSON object a line.") var json = false

    func run() async throws {
        guard (1...DirectoryQuery.maxLimit).contains(limit) else {
            throw ValidationError("--limit must be between 1 and \(DirectoryQuery.maxLimit)")
        }
        let query = DirectoryQuery(text: text, domain: domain?.lowercased(), limit: limit)
        let store = try await openDirectory()
        let result = try await perform { () async throws(StoreError) in try await store.searchDirectory(query) }
        for entry in result.entries {
            if json {
                let object: [String: String] = [
                    "uri": "sip:" + entry.aor, "display_name": entry.displayName, "title": entry.title,
                    "office": entry.office, "phone": entry.phone, "company": entry.company, "email": entry.email,
                ]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print(["sip:" + entry.aor, entry.displayName, entry.title, entry.office, entry.phone, entry.company,
                       entry.email].joined(separator: "\t"))
            }
        }
        if result.more {
            FileHandle.standardError.write(Data("sipctl: more users match; narrow the search or raise --limit\n".utf8))
        }
    }
}
