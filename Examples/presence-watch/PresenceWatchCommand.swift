import ArgumentParser
import Dispatch
import Foundation
import SIPUserAgent

/// `presence-watch --aor alice@example.com --password secret bob@example.com carol@example.com`:
/// registers, watches each AOR and prints every change as one line:
///
///     bob@example.com online "in a meeting"
@main
struct PresenceWatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "presence-watch", abstract: "Registers, watches the presence of AORs and prints each change.")

    @Option(help: "The address of record to register, user@domain.")
    var aor: String
    @Option(help: "The digest password.")
    var password: String
    @Option(help: "The outbound proxy: sip:HOST:PORT[;transport=udp|tcp|tls].")
    var proxy = "sip:127.0.0.1:5060"
    @Argument(help: "The AORs to watch.")
    var watched: [String]

    func run() async throws {
        let userAgent = try SIPUserAgent(account: SIPAccount(aor: aor, password: password, outboundProxy: proxy))
        try await userAgent.start()
        let signals = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number)
            source.setEventHandler { Task { await userAgent.stop() } }
            source.resume()
            return source
        }
        defer { signals.forEach { $0.cancel() } }
        await withTaskGroup(of: Void.self) { group in
            for target in watched {
                group.addTask { await Self.watch(target, with: userAgent) }
            }
        }
        await userAgent.stop()
    }

    /// Prints `target`'s state each time it changes, until the watch ends.
    static func watch(_ target: String, with userAgent: SIPUserAgent) async {
        do {
            var last: String?
            for await state in try await userAgent.watch(target) where state.description != last {
                last = state.description
                print(state)
                fflush(nil)
            }
        } catch {
            print("presence-watch: cannot watch \(target): \(error)")
        }
    }
}
