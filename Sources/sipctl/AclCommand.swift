import ArgumentParser
import Foundation
import Store

/// `sipctl --data DIR acl ...` (CONTRACT.md): who may see a user's presence (RFC 3856 §6.6
/// authorization, LCS 2003's allow and block lists). A running home server re-reads the
/// access lists about every second and re-decides the live subscriptions they touch
/// (``AccessLists/runRefresher(every:onChange:)``).
struct AclCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "acl",
        abstract: "Set who may see a user's presence: allow and block lists, and a default per domain.",
        discussion: """
            A watcher is decided in this order: a user may always watch themselves; then the user's \
            entry for the watcher (allow, or block: a blocked watcher sees the user offline); then the \
            default configured for the user's domain; else the built-in default: watchers of the same \
            domain are allowed, others blocked. A running server applies a change to live \
            subscriptions within about a second.
            """,
        subcommands: [AclDefault.self, AclAllow.self, AclBlock.self, AclRemove.self, AclList.self]
    )
}

/// Shared by the acl subcommands (``StoreSubcommand``).
protocol AclSubcommand: StoreSubcommand {}

extension AclSubcommand {
    /// `acl allow` / `acl block`: sets the entry and says what it means.
    func setRule(_ rule: AccessRule, user userText: String, watcher watcherText: String) async throws {
        let user = try parseAOR(userText)
        let watcher = try parseAOR(watcherText)
        let store = try await openDirectory()
        try await perform { () async throws(StoreError) in
            do throws(StoreError) {
                try await store.setAccess(user: user, watcher: watcher, rule: rule)
            } catch {
                guard error.code == .unknownUser else { throw error }
                throw StoreError(.unknownUser, "no user \(user) in the directory (add it with 'sipctl user add')")
            }
        }
        switch rule {
        case .allow: print("\(watcher) may now see \(user)'s presence")
        case .block: print("\(watcher) is now blocked from \(user)'s presence (they see \(user) offline)")
        }
    }
}

/// Parses `allow|pending|block`, or fails as bad usage (exit 2).
func parsePolicy(_ text: String) throws -> WatchPolicy {
    guard let policy = WatchPolicy(rawValue: text.lowercased()) else {
        throw ValidationError("'\(text)' is not a policy: expected allow, pending or block")
    }
    return policy
}

struct AclDefault: AclSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "default",
        abstract: "Set who may watch a user of DOMAIN when the user's list says nothing of the watcher.",
        discussion: """
            allow: anyone, of any domain; pending: the user is asked (the watcher waits); block: the \
            watcher sees the user offline. Without a configured default, watchers of the same domain \
            are allowed and others blocked. Takes effect on live subscriptions within about a second.
            """
    )
    @ParentCommand var root: SipCtl
    @Argument(help: "The users' domain, e.g. example.com.") var domain: String
    @Argument(help: "allow, pending or block.") var policy: String

    func run() async throws {
        let domain = domain.lowercased()
        guard AOR.normalize("x@" + domain) != nil else { throw ValidationError("'\(domain)' is not a domain") }
        let policy = try parsePolicy(policy)
        let store = try await openDirectory()
        try await perform { () async throws(StoreError) in try await store.setAccessDefault(domain: domain, policy: policy) }
        switch policy {
        case .allow: print("default for \(domain): allow (anyone may see a user's presence unless their list blocks them)")
        case .pending: print("default for \(domain): pending (a watcher not on a user's list waits for the user's consent)")
        case .block: print("default for \(domain): block (a watcher not on a user's list sees the user offline)")
        }
    }
}

struct AclAllow: AclSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "allow",
        abstract: "Let WATCHER see USER's presence (takes effect on live subscriptions within about a second).")
    @ParentCommand var root: SipCtl
    @Argument(help: "The user (in the directory), user@domain.") var user: String
    @Argument(help: "The watcher, user@domain of any domain.") var watcher: String

    func run() async throws { try await setRule(.allow, user: user, watcher: watcher) }
}

struct AclBlock: AclSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "block",
        abstract: "Politely block WATCHER from USER's presence: they see USER offline (within about a second).")
    @ParentCommand var root: SipCtl
    @Argument(help: "The user (in the directory), user@domain.") var user: String
    @Argument(help: "The watcher, user@domain of any domain.") var watcher: String

    func run() async throws { try await setRule(.block, user: user, watcher: watcher) }
}

struct AclRemove: AclSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Drop USER's entry for WATCHER: the default applies again (within about a second).")
    @ParentCommand var root: SipCtl
    @Argument(help: "The user, user@domain.") var user: String
    @Argument(help: "The watcher, user@domain.") var watcher: String

    func run() async throws {
        let user = try parseAOR(user)
        let watcher = try parseAOR(watcher)
        let store = try await openDirectory()
        let removed = try await perform { () async throws(StoreError) in
            try await store.removeAccess(user: user, watcher: watcher)
        }
        guard removed else { throw fail("\(user) has no entry for \(watcher)") }
        print("removed \(user)'s entry for \(watcher): the default applies to them again")
    }
}

struct AclList: AclSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List USER's entries (`allow WATCHER`, `block WATCHER`), then the default that applies to everyone else.")
    @ParentCommand var root: SipCtl
    @Argument(help: "The user, user@domain.") var user: String

    func run() async throws {
        let user = try parseAOR(user)
        let store = try await openDirectory()
        let (known, entries, defaults) = try await perform { () async throws(StoreError) in
            (try await store.user(user) != nil, try await store.accessEntries(user: user), try await store.accessDefaults())
        }
        guard known else { throw fail("no user \(user) in the directory") }
        for line in AccessLists.listing(user: user, entries: entries, defaults: defaults) { print(line) }
    }
}
