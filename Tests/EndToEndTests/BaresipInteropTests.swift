import Foundation
import NIOCore
import NIOPosix
import SIPCore
import Testing

/// Debian's baresip 1.0 (libre) against a home server with authentication on and the default
/// digest algorithms: it must register and have its MESSAGE relayed. libre gives up on a
/// challenge list holding SHA-256 ("Function not implemented"), so this fails with the old
/// SHA-256-and-MD5 default. `scripts/test` installs `baresip-core`; without it the test fails.
@Suite(.serialized) struct BaresipInteropTests {
    /// baresip on PATH, or nil.
    static var executable: String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return (path.split(separator: ":").map { "\($0)/baresip" } + ["/usr/bin/baresip"])
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// A UDP port nobody is bound to right now.
    static func freeUDPPort() async throws -> Int {
        let channel = try await DatagramBootstrap(group: testEventLoops).bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress?.port ?? 0
        try await channel.close()
        return port
    }

    @Test func baresipRegistersAndItsMessageIsRelayed() async throws {
        let baresip = try #require(Self.executable, "baresip is not installed (apt-get install baresip-core; scripts/test does)")
        let server = try await RunningHomeServer.start(domain: "localhost",
                                                       users: [("alice", "secret-a", true), ("bob", "secret-b", true)])
        let (bob, bobRegistered) = try await RegisteredUA.register("bob", password: "secret-b", on: server, group: testEventLoops)
        #expect(bobRegistered?.statusCode == 200)

        let client = try BaresipProcess(executable: baresip, sipPort: try await Self.freeUDPPort(), serverPort: server.udpPort,
                                        user: "alice", password: "secret-a", contact: "sip:bob@localhost",
                                        commands: ["/message hello from baresip"])
        defer { client.stop() }

        // Registered: baresip reports the 200 of its REGISTER.
        let registered = await client.waitForOutput(timeout: .seconds(20)) { $0.contains("200 OK") && $0.contains("binding") }
        #expect(registered, "baresip did not register:\n\(client.output)")

        // Its MESSAGE (answered with credentials after a 407) reaches bob through the proxy.
        let relayed = try #require(await bob.request(), "no MESSAGE relayed; baresip said:\n\(client.output)")
        #expect(relayed.method == .message)
        #expect(relayed.from?.uri.sipURI?.user == "alice")
        #expect(String(decoding: relayed.body, as: UTF8.self) == "hello from baresip")
        try await bob.answer(relayed, 200, to: server.udpPort)

        // And alice's binding is used: an outsider's MESSAGE to alice is answered 200 by baresip.
        let outsider = try await TestUA(group: testEventLoops)
        try await outsider.send("""
            MESSAGE sip:alice@localhost SIP/2.0
            Via: SIP/2.0/UDP 127.0.0.1:\(outsider.port);branch=z9hG4bK-to-baresip;rport
            Max-Forwards: 70
            From: <sip:carol@elsewhere.example>;tag=c1
            To: <sip:alice@localhost>
            Call-ID: to-baresip
            CSeq: 1 MESSAGE
            Content-Type: text/plain
            Content-Length: *

            hello alice
            """, to: server.udpPort)
        let answer = await outsider.response()
        #expect(answer?.statusCode == 200, "baresip said:\n\(client.output)")
        await outsider.close()
        await bob.close()
        client.stop()
        try await server.stop()
    }
}

/// baresip run headless from a temporary config folder (`baresip -f DIR`): no audio or UI
/// modules (stdin is not a terminal), the account registering through `outbound`, commands
/// given with `-e`, everything it prints collected in a file.
final class BaresipProcess {
    let process: Process
    let directory: URL
    let logFile: URL

    init(executable: String, sipPort: Int, serverPort: Int, user: String, password: String, contact: String,
         commands: [String]) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("baresip-\(UUID().uuidString)")
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
        FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let log = try FileHandle(forWritingTo: logFile)
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["-f", directory.path] + commands.flatMap { ["-e", $0] }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    /// Everything baresip printed so far.
    var output: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    /// Polls the output until `done` holds or `timeout` passes.
    func waitForOutput(timeout: Duration, _ done: (String) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if done(output) { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return done(output)
    }

    /// Kills it (SIGKILL: on SIGTERM baresip waits for its un-REGISTER, which may never come).
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
