import ArgumentParser
import Dispatch
import Foundation
import SIPUserAgent

/// `echo-bot --aor bot@example.com --password secret --proxy sip:127.0.0.1:5060`: registers
/// and answers every MESSAGE with its text reversed, until interrupted (then unregisters).
@main
struct EchoBotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo-bot", abstract: "Registers and answers every SIP MESSAGE with its text reversed.")

    @Option(help: "The address of record to register, user@domain.")
    var aor: String
    @Option(help: "The digest password.")
    var password: String
    @Option(help: "The outbound proxy: sip:HOST:PORT[;transport=udp|tcp|tls].")
    var proxy = "sip:127.0.0.1:5060"

    func run() async throws {
        let userAgent = try SIPUserAgent(account: SIPAccount(aor: aor, password: password, outboundProxy: proxy))
        try await userAgent.start()
        print("echo-bot: \(aor) registered through \(proxy)")
        let interrupt = stopOnSignals(userAgent)
        defer { interrupt.forEach { $0.cancel() } }
        await Echo.serve(userAgent)
    }
}

/// Ctrl-C or SIGTERM: stop the user agent (unregister), which ends the message loop.
func stopOnSignals(_ userAgent: SIPUserAgent) -> [any DispatchSourceSignal] {
    [SIGINT, SIGTERM].map { number in
        signal(number, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: number)
        source.setEventHandler { Task { await userAgent.stop() } }
        source.resume()
        return source
    }
}
