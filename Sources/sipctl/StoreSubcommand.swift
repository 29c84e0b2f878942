import ArgumentParser
import Foundation
import Store

/// Shared by the subcommands that work on the store (`user`, `acl`): the store in `--data`,
/// and failures that exit 1.
protocol StoreSubcommand: AsyncParsableCommand {
    var root: SipCtl { get }
}

extension StoreSubcommand {
    func openStore() throws -> SQLiteStore {
        do { return try SQLiteStore(directory: root.data) } catch { throw fail("\(error.reason)") }
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
