import ArgumentParser
import Foundation

/// `sipctl`: the operator's tool (CONTRACT.md). Each subcommand lives in its own file.
/// Exit status: 0 success, 1 a failed check or operation, 2 bad usage.
@main
struct SipCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sipctl",
        abstract: "Operate the SIP server family: lint messages, provision users, set presence access lists, roaming contact lists and directory fields, search the IM archive.",
        discussion: "Exit status: 0 success, 1 a failed check or operation, 2 bad usage.",
        subcommands: [LintCommand.self, UserCommand.self, AclCommand.self, ContactsCommand.self, DirectoryCommand.self,
                      ArchiveCommand.self]
    )

    @Option(name: .long, help: "Directory of the embedded SQLite store.")
    var data: String = "./sip-data"

    @Option(name: .long, help: ArgumentHelp("""
        The shared user directory (users, directory fields, access lists): \
        postgresql://USER:PASSWORD@HOST:PORT/DB; the embedded store in --data when not given.
        """, valueName: "URL"))
    var directory: String?

    @Option(name: .long, help: ArgumentHelp("The archive database: sqlite (in --data, the default) or postgresql://USER:PASSWORD@HOST:PORT/DB.",
                                            valueName: "URL"))
    var archive: String?

    /// Runs the command; bad usage exits 2 (CONTRACT.md) where ArgumentParser would exit 64.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            await closeOpenedDirectories()
        } catch {
            await closeOpenedDirectories()
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}
