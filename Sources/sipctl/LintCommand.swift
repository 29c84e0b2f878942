import ArgumentParser
import Foundation
import SIPCore

/// `sipctl lint [FILE]` (CONTRACT.md): reads one raw SIP message (FILE or stdin) as one UDP
/// datagram (RFC 3261 §18.3 framing). Valid: exit 0 and print it re-serialized in canonical
/// form. Invalid request: exit 1 and print the status line a server would answer with
/// (`400 Bad Request`), then the reason. Malformed response: exit 1 and print `drop`.
struct LintCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lint",
        abstract: "Parse one raw SIP message (FILE or stdin) as a UDP datagram.",
        discussion: """
            Valid: exit 0, print the message re-serialized (full header names, CRLF, correct Content-Length).
            Invalid request: exit 1, print the response line a server would send (e.g. '505 Version Not Supported'), then the reason.
            Malformed response: exit 1, print 'drop', then the reason.
            """
    )

    @Argument(help: "A file holding the raw message; stdin when absent.")
    var file: String?

    func run() async throws {
        let data: Data
        if let file {
            guard let d = FileManager.default.contents(atPath: file) else {
                FileHandle.standardError.write(Data("sipctl lint: cannot read \(file)\n".utf8))
                throw ExitCode(2)
            }
            data = d
        } else {
            data = FileHandle.standardInput.readDataToEndOfFile()
        }
        do {
            let message = try SIPParser.parseDatagram([UInt8](data))
            FileHandle.standardOutput.write(Data(message.serialized()))
        } catch {
            if let status = error.status {
                print("\(status) \(SIPStatus.reasonPhrase(for: status))")
            } else {
                print("drop")
            }
            print(error.reason)
            throw ExitCode(1)
        }
    }
}
