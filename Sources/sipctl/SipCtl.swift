import ArgumentParser

/// `sipctl`: the operator's tool (CONTRACT.md). Each subcommand lives in its own file.
/// Exit status: 0 success, 1 a failed check or operation, 2 bad usage.
@main
struct SipCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sipctl",
        abstract: "Operate the SIP server family: lint messages, provision users.",
        subcommands: [LintCommand.self, UserCommand.self]
    )

    @Option(name: .long, help: "Directory of the embedded SQLite store.")
    var data: String = "./sip-data"
}
