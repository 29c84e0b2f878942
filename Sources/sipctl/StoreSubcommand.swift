import ArgumentParser
import Foundation
import Logging
import Store
import StorePostgres
import Synchronization

/// The PostgreSQL directories opened by the command, closed by ``SipCtl/main()`` before it
/// exits (a connection must be closed, not dropped).
let openedDirectories = Mutex<[PostgresDirectory]>([])

func closeOpenedDirectories() async {
    let all = openedDirectories.withLock { all in defer { all = [] }; return all }
    for directory in all { await directory.close() }
}

/// Shared by the subcommands that work on the store (`user`, `acl`): the store in `--data`
/// (or the shared directory of `--directory`), and failures that exit 1.
protocol StoreSubcommand: AsyncParsableCommand {
    var root: SipCtl { get }
}

extension StoreSubcommand {
    /// The embedded store in `--data` (bindings, contact lists; and the directory unless
    /// `--directory` names a shared one).
    func openStore() throws -> SQLiteStore {
        var configuration = SQLiteStore.Configuration()
        configuration.usersElsewhere = root.directory != nil
        do { return try SQLiteStore(directory: root.data, configuration: configuration) } catch { throw fail("\(error.reason)") }
    }

    /// Users, their directory fields and access lists: the PostgreSQL directory of
    /// `--directory postgresql://...` (schema created or migrated), else the embedded store.
    /// An unreachable database fails with one line (exit 1).
    func openDirectory() async throws -> any SharedDirectoryStore {
        guard let url = root.directory else { return try openStore() }
        guard url.hasPrefix("postgresql://") || url.hasPrefix("postgres://") else {
            throw ValidationError("bad directory '\(url)' (expected postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE)")
        }
        var logger = Logger(label: "sipctl.directory")
        logger.logLevel = .critical
        do {
            let directory = try await PostgresDirectory.open(url: url, logger: logger)
            openedDirectories.withLock { $0.append(directory) }
            return directory
        } catch {
            if error.code == .invalidValue { throw ValidationError(error.reason) }
            throw fail(error.reason)
        }
    }

    /// With `--directory`: fails (exit 1) unless `user` is in the shared directory (the
    /// embedded store then keeps contact lists for any user).
    func requireSharedUser(_ user: String) async throws {
        guard root.directory != nil else { return }
        let directory = try await openDirectory()
        let found = try await perform { () async throws(StoreError) in try await directory.user(user) }
        if found == nil { throw fail("no user \(user) in the directory (add it with 'sipctl user add')") }
    }

    /// Prints `message` to stderr and returns the exit status 1 (a failed operation).
    func fail(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("sipctl: \(message)\n".utf8))
        return ExitCode(1)
    }

    /// Runs a store operation, turning its error into exit status 1 with a clear message.
    func perform<T>(_ body: () async throws(StoreError) -> T) async throws -> T {
        do { return try await body() } catch { throw fail(error.reason) }
    }
}

/// Parses `user@domain` (a `sip:` / `sips:` prefix allowed), or fails as bad usage (exit 2).
func parseAOR(_ text: String) throws -> String {
    guard let aor = AOR.normalize(text) else {
        throw ValidationError("'\(text)' is not an address-of-record user@domain")
    }
    return aor
}
