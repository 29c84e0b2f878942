import ArgumentParser

/// `sipctl --data DIR user ...` (CONTRACT.md). Owned by the Store work.
struct UserCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "user", abstract: "Provision users in the store.")
    func run() async throws { throw ExitCode(2) }
}
