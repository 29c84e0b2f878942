import Foundation
import Synchronization
import SIPUserAgent
import SIPTestSupport
import Testing
@testable import echo_bot

/// `echo-bot`'s logic (`Examples/echo-bot/Echo.swift`) as bob, answering a MESSAGE that
/// Debian's baresip (`baresip-core`, which `scripts/test` installs) sends as alice through
/// the home server with digest authentication on. Without baresip the test fails.
@Suite(.serialized, .timeLimit(.minutes(2))) struct EchoBotBaresipTests {
    static var baresip: String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return (path.split(separator: ":").map { "\($0)/baresip" } + ["/usr/bin/baresip"])
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    @Test func reversesText() {
        #expect(Echo.reply(to: "hello") == "olleh")
        #expect(Echo.reply(to: "héllo ✓") == "✓ olléh")
        #expect(Echo.reply(to: "") == "")
    }

    @Test func echoBotAnswersBaresip() async throws {
        let executable = try #require(Self.baresip, "baresip is not installed (apt-get install baresip-core; scripts/test does)")
        let server = try await HomeServerFixture.start(domain: "localhost", users: [("alice", "secret-a"), ("bob", "secret-b")])
        let bot = try server.userAgent("bob", password: "secret-b")
        try await bot.start()

        // baresip binds UDP, TCP and TLS on its port; a suite running in parallel may hold the
        // TCP one ("Address already in use"): then it is tried again on another port.
        var started: BaresipRunner?
        for _ in 1...5 {
            let candidate = try BaresipRunner(executable: executable, sipPort: try TestPorts.loopback(consecutive: 2),
                                              serverPort: server.udpPort, user: "alice", password: "secret-a",
                                              contact: "sip:bob@localhost", commands: ["/message hello from baresip"])
            _ = await candidate.waitForOutput(timeout: .seconds(3)) {
                $0.contains("Address already in use") || $0.contains("200 OK")
            }
            if candidate.output.contains("Address already in use") {
                candidate.stop()
                continue
            }
            started = candidate
            break
        }
        let client = try #require(started, "baresip found no free port in five tries")
        defer { client.stop() }
        // The bot's UA answers baresip's MESSAGE 200 as it arrives and keeps it for `messages`;
        // the echo loop starts once baresip is registered, so the reversed text can reach it.
        let registered = await client.waitForOutput(timeout: .seconds(20)) { $0.contains("200 OK") && $0.contains("binding") }
        #expect(registered, "baresip did not register:\n\(client.output)")

        let log = LogLines()
        let serving = Task { await Echo.serve(bot) { log.append($0) } }
        #expect(await eventually(timeout: .seconds(15)) { log.lines.contains { $0.contains("hello from baresip") } },
                "the bot saw no message; baresip said:\n\(client.output)")
        #expect(log.lines == ["echo-bot: alice@localhost: hello from baresip"], "\(log.lines)")
        // The bot's MESSAGE was answered 2xx by baresip (else `send` threw and the log says so);
        // its SIP trace shows the reversed text arriving.
        let reversed = String("hello from baresip".reversed())
        #expect(await client.waitForOutput(timeout: .seconds(10)) { $0.contains(reversed) }, "baresip said:\n\(client.output)")

        await bot.stop()  // ends `messages`, so the echo loop returns
        #expect(await serving.value == 1)
        client.stop()
        try await server.stop()
    }
}

/// Lines the echo loop logs, collected across tasks.
final class LogLines: Sendable {
    private let storage = Mutex<[String]>([])
    func append(_ line: String) { storage.withLock { $0.append(line) } }
    var lines: [String] { storage.withLock { $0 } }
}

/// baresip run headless from a temporary config folder (`baresip -f DIR`), its account
/// registering through the home server (`outbound`), commands given with `-e`, its output
/// and its SIP trace (`-s`) in a file (as the EndToEndTests' BaresipInteropTests run it).
final class BaresipRunner {
    let process = Process()
    let directory: URL
    let logFile: URL

    init(executable: String, sipPort: Int, serverPort: Int, user: String, password: String, contact: String,
         commands: [String]) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ua-baresip-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let config = """
            poll_method\t\tepoll
            sip_listen\t\t127.0.0.1:\(sipPort)
            module_path\t\t/usr/lib/baresip/modules
            module\t\t\tg711.so
            module_tmp\t\taccount.so
            module_app\t\tcontact.so
            module_app\t\tmenu.so

            """
        try config.write(to: directory.appendingPathComponent("config"), atomically: true, encoding: .utf8)
        let account = "<sip:\(user)@localhost;transport=udp>;auth_pass=\(password);"
            + "outbound=\"sip:127.0.0.1:\(serverPort);transport=udp\";regint=600\n"
        try account.write(to: directory.appendingPathComponent("accounts"), atomically: true, encoding: .utf8)
        try "<\(contact)>\n".write(to: directory.appendingPathComponent("contacts"), atomically: true, encoding: .utf8)
        logFile = directory.appendingPathComponent("output.log")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let log = try FileHandle(forWritingTo: logFile)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["-s", "-f", directory.path] + commands.flatMap { ["-e", $0] }  // -s: SIP trace in the output
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    var output: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    func waitForOutput(timeout: Duration, _ done: (String) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if done(output) { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return done(output)
    }

    /// SIGKILL (on SIGTERM baresip waits for its un-REGISTER).
    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }
}
