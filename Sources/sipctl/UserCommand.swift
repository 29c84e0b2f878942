import ArgumentParser
import Foundation
import Registrar
import Store

/// `sipctl --data DIR user ...` (CONTRACT.md): provision users in the store's directory.
/// Passwords are never stored: only the digest HA1s for MD5 and SHA-256 over
/// `user:domain:password` (RFC 3261 §22.4, RFC 8760 §3).
struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user",
        abstract: "Provision users in the store.",
        subcommands: [UserAdd.self, UserImport.self, UserList.self, UserDisable.self, UserEnable.self,
                      UserSetPassword.self, UserSet.self, UserRemove.self]
    )
}

/// Shared by the user subcommands: the store in `--data` and failures that exit 1
/// (``StoreSubcommand``).
protocol UserSubcommand: StoreSubcommand {}

extension UserSubcommand {
    /// `user enable` / `user disable`: sets the flag and says what it did.
    func setEnabled(_ text: String, _ enabled: Bool) async throws {
        let aor = try parseAOR(text)
        let store = try await openDirectory()
        try await perform { () async throws(StoreError) in try await store.setEnabled(aor, enabled) }
        print("\(enabled ? "enabled" : "disabled") \(aor)")
    }
}

func makeUser(aor: String, password: String, displayName: String? = nil, homeServer: String? = nil) -> UserRecord {
    // AOR.normalize guarantees the '@'.
    let ha1 = DigestHA1.compute(aor: aor, password: password)!
    return UserRecord(aor: aor, displayName: displayName, enabled: true, homeServer: homeServer,
                      ha1MD5: ha1.md5, ha1SHA256: ha1.sha256)
}

struct UserAdd: UserSubcommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Add one user.")
    @ParentCommand var root: SipCtl
    @Argument(help: "The user's address-of-record, user@domain (realm = domain).") var aor: String
    @Option(help: "The user's password (only its digest HA1s are stored).") var password: String
    @Option(help: "Display name.") var displayName: String?
    @Option(help: "The home server this user is homed on.") var homeServer: String?

    func run() async throws {
        let aor = try parseAOR(aor)
        let store = try await openDirectory()
        let user = makeUser(aor: aor, password: password, displayName: displayName, homeServer: homeServer)
        try await perform { () async throws(StoreError) in try await store.addUser(user) }
        print("added \(aor)")
    }
}

struct UserImport: UserSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Add many users in one transaction: one `user@domain,password[,home-server]` per line.",
        discussion: """
            Empty lines and lines starting with # are skipped. Passwords cannot contain commas. All or \
            nothing: a bad line or an existing user adds no one. With --replace, existing users take the \
            file's password and home server (how servers of one mesh keep the same directory: import one \
            file into each).
            """
    )
    @ParentCommand var root: SipCtl
    @Argument(help: "The file to read, or - for stdin.") var file: String
    @Flag(help: "Update users that exist already (password, home server) instead of refusing.") var replace = false

    func run() async throws {
        let data: Data
        if file == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let read = FileManager.default.contents(atPath: file) else { throw fail("cannot read \(file)") }
            data = read
        }
        let started = ContinuousClock.now
        var entries: [(aor: String, password: String, home: String?)] = []
        var seen: [String: Int] = [:]
        seen.reserveCapacity(data.count / 24)
        var lineNumber = 0
        // Bytes, not Characters: splitting 100,000 lines as Strings costs more than hashing them.
        let bytes = [UInt8](data)
        var lineStart = 0
        while lineStart < bytes.count {
            var lineEnd = bytes[lineStart...].firstIndex(of: 0x0A) ?? bytes.count
            let next = lineEnd + 1
            lineNumber += 1
            if lineEnd > lineStart, bytes[lineEnd - 1] == 0x0D { lineEnd -= 1 }
            let line = bytes[lineStart..<lineEnd]
            lineStart = next
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) || line.first == UInt8(ascii: "#") { continue }
            let fields = line.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false)
            guard fields.count == 2 || fields.count == 3, !fields[1].isEmpty,
                  let aor = AOR.normalize(String(decoding: fields[0], as: UTF8.self))
            else { throw fail("\(file): bad line \(lineNumber): expected user@domain,password[,home-server]") }
            if let first = seen.updateValue(lineNumber, forKey: aor) {
                throw fail("\(file): bad line \(lineNumber): duplicate user \(aor) (also on line \(first))")
            }
            let home = fields.count == 3 && !fields[2].isEmpty ? String(decoding: fields[2], as: UTF8.self) : nil
            entries.append((aor, String(decoding: fields[1], as: UTF8.self), home))
        }
        let users = await Self.hash(entries)
        let hashed = ContinuousClock.now
        let store = try await openDirectory()
        try await perform { () async throws(StoreError) in try await store.importUsers(users, replace: replace) }
        let done = ContinuousClock.now
        print("imported \(users.count) users in \(seconds(done - started)) s "
            + "(read and hashed in \(seconds(hashed - started)) s, stored in one transaction in \(seconds(done - hashed)) s)")
    }

    /// Computes the HA1s (the cost of an import) on every core.
    static func hash(_ entries: [(aor: String, password: String, home: String?)]) async -> [UserRecord] {
        let chunks = max(1, min(ProcessInfo.processInfo.activeProcessorCount, entries.count / 1000))
        let size = (entries.count + chunks - 1) / max(chunks, 1)
        return await withTaskGroup(of: (Int, [UserRecord]).self) { group in
            for chunk in 0..<chunks {
                let slice = Array(entries[min(entries.count, chunk * size)..<min(entries.count, (chunk + 1) * size)])
                group.addTask { (chunk, slice.map { makeUser(aor: $0.aor, password: $0.password, homeServer: $0.home) }) }
            }
            var parts = Array(repeating: [UserRecord](), count: chunks)
            for await (chunk, users) in group { parts[chunk] = users }
            return parts.flatMap { $0 }
        }
    }

    func seconds(_ duration: Duration) -> String {
        String(format: "%.2f", Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
    }
}

struct UserList: UserSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List users: address-of-record, enabled/disabled, home server, display name (tab-separated).")
    @ParentCommand var root: SipCtl

    func run() async throws {
        let store = try await openDirectory()
        var users: [UserRecord] = []
        try await perform { () async throws(StoreError) in users = try await store.allUsers() }
        for user in users {
            print([user.aor, user.enabled ? "enabled" : "disabled", user.homeServer ?? "-", user.displayName ?? ""]
                .joined(separator: "\t"))
        }
    }
}

struct UserDisable: UserSubcommand {
    static let configuration = CommandConfiguration(commandName: "disable", abstract: "Disable a user (REGISTER answers 403).")
    @ParentCommand var root: SipCtl
    @Argument(help: "user@domain") var aor: String

    func run() async throws { try await setEnabled(aor, false) }
}

struct UserEnable: UserSubcommand {
    static let configuration = CommandConfiguration(commandName: "enable", abstract: "Enable a disabled user.")
    @ParentCommand var root: SipCtl
    @Argument(help: "user@domain") var aor: String

    func run() async throws { try await setEnabled(aor, true) }
}

struct UserSetPassword: UserSubcommand {
    static let configuration = CommandConfiguration(commandName: "set-password", abstract: "Replace a user's password.")
    @ParentCommand var root: SipCtl
    @Argument(help: "user@domain") var aor: String
    @Option(help: "The new password.") var password: String

    func run() async throws {
        let aor = try parseAOR(aor)
        let store = try await openDirectory()
        let user = makeUser(aor: aor, password: password)
        try await perform { () async throws(StoreError) in
            try await store.setCredentials(aor, ha1MD5: user.ha1MD5, ha1SHA256: user.ha1SHA256)
        }
        print("password set for \(aor)")
    }
}

struct UserRemove: UserSubcommand {
    static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove a user and its bindings.")
    @ParentCommand var root: SipCtl
    @Argument(help: "user@domain") var aor: String

    func run() async throws {
        let aor = try parseAOR(aor)
        let store = try await openDirectory()
        try await perform { () async throws(StoreError) in try await store.removeUser(aor) }
        print("removed \(aor)")
    }
}
