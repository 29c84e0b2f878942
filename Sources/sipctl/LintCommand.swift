import ArgumentParser

/// `sipctl lint [FILE]` (CONTRACT.md). Owned by the SIPCore work.
struct LintCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "lint", abstract: "Parse one raw SIP message (FILE or stdin) as a UDP datagram.")
    @Argument var file: String?
    func run() async throws { throw ExitCode(2) }
}
