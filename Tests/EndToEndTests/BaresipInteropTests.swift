import Foundation
import NIOCore
import NIOPosix
import SIPCore
import SIPTestSupport
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

    @Test func baresipRegistersAndItsMessageIsRelayed() async throws {
        let baresip = try #require(Self.executable, "baresip is not installed (apt-get install baresip-core; scripts/test does)")
        let server = try await RunningHomeServer.start(domain: "localhost",
                                                       users: [("alice", "secret-a", true), ("bob", "secret-b", true)])
        let (bob, bobRegistered) = try await RegisteredUA.register("bob", password: "secret-b", on: server, group: testEventLoops)
        #expect(bobRegistered?.statusCode == 200)

        let client = try await BaresipProcess.launch(executable: baresip, serverPort: server.udpPort,
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
///
/// Optional: `domain` of the account and contact (default `localhost`), `contactParameters`
/// appended to the contact line (e.g. `;presence=p2p`), `accountParameters` appended to the
/// account line (e.g. `;pubint=600`), `extraConfig` lines appended to `config`, and a
/// `controlPort` that loads `ctrl_tcp` so `control(_:_:)` can send commands while it runs, and
/// `traceSIP` (`-s`: every SIP message it sends and receives goes to the output too).
final class BaresipProcess {
    let process: Process
    let directory: URL
    let logFile: URL
    let controlPort: Int?

    init(executable: String, sipPort: Int, serverPort: Int, user: String, password: String, contact: String,
         commands: [String], domain: String = "localhost", contactParameters: String = "",
         accountParameters: String = "", extraConfig: String = "", controlPort: Int? = nil,
         traceSIP: Bool = false) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("baresip-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.controlPort = controlPort
        var config = """
            poll_method\t\tepoll
            sip_listen\t\t127.0.0.1:\(sipPort)
            module_path\t\t/usr/lib/baresip/modules
            module\t\t\tg711.so
            module_tmp\t\taccount.so
            module_app\t\tcontact.so
            module_app\t\tmenu.so

            """
        if let controlPort {
            config += "module_app\t\tctrl_tcp.so\nctrl_tcp_listen\t\t127.0.0.1:\(controlPort)\n"
        }
        if !extraConfig.isEmpty { config += extraConfig.hasSuffix("\n") ? extraConfig : extraConfig + "\n" }
        try config.write(to: directory.appendingPathComponent("config"), atomically: true, encoding: .utf8)
        let account = "<sip:\(user)@\(domain);transport=udp>;auth_pass=\(password);"
            + "outbound=\"sip:127.0.0.1:\(serverPort);transport=udp\";regint=600\(accountParameters)\n"
        try account.write(to: directory.appendingPathComponent("accounts"), atomically: true, encoding: .utf8)
        try "<\(contact)>\(contactParameters)\n".write(to: directory.appendingPathComponent("contacts"),
                                                    atomically: true, encoding: .utf8)
        logFile = directory.appendingPathComponent("output.log")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let log = try FileHandle(forWritingTo: logFile)
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = (traceSIP ? ["-s"] : []) + ["-f", directory.path] + commands.flatMap { ["-e", $0] }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    /// Starts baresip as ``init`` does, on free ports of its own: baresip binds UDP, TCP and TLS
    /// on its SIP port (and TCP on the control port), and a suite running in parallel may take
    /// one of those between the probe and baresip's bind ("Address already in use"); then it
    /// is started again on other ports, up to five times.
    static func launch(executable: String, serverPort: Int, user: String, password: String, contact: String,
                       commands: [String], domain: String = "localhost", contactParameters: String = "",
                       accountParameters: String = "", extraConfig: String = "", withControl: Bool = false,
                       traceSIP: Bool = false) async throws -> BaresipProcess {
        var last: BaresipProcess?
        for _ in 1...5 {
            let candidate = try BaresipProcess(
                executable: executable, sipPort: try TestPorts.loopback(consecutive: 2), serverPort: serverPort,
                user: user, password: password, contact: contact, commands: commands, domain: domain,
                contactParameters: contactParameters, accountParameters: accountParameters, extraConfig: extraConfig,
                controlPort: withControl ? try TestPorts.loopback() : nil, traceSIP: traceSIP)
            _ = await candidate.waitForOutput(timeout: .seconds(3)) {
                $0.contains("Address already in use") || $0.contains("200 OK")
            }
            guard candidate.output.contains("Address already in use") else { return candidate }
            candidate.stop()
            last = candidate
        }
        throw BaresipControlError("baresip found no free port in five tries:\n\(last?.output ?? "")")
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

    /// Sends one command to `ctrl_tcp` (netstring-framed JSON, e.g. `control("presence_offline")`,
    /// `control("insmod", "presence.so")`) and returns the response's `data` text.
    func control(_ command: String, _ params: String = "") throws -> String {
        guard let controlPort else { throw BaresipControlError("started without a controlPort") }
        #if os(Linux)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw BaresipControlError("socket: errno \(errno)") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(controlPort).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw BaresipControlError("connect to ctrl_tcp \(controlPort): errno \(errno)") }
        let request: [String: String] = ["command": command, "params": params, "token": "t\(UInt32.random(in: 0...999_999))"]
        let json = try JSONSerialization.data(withJSONObject: request)
        let frame = Array("\(json.count):".utf8) + Array(json) + Array(",".utf8)
        var sent = 0
        while sent < frame.count {
            let n = frame[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw BaresipControlError("send: errno \(errno)") }
            sent += n
        }
        // Netstrings come back: events (`"event":true`) may precede the response.
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            while let colon = buffer.firstIndex(of: UInt8(ascii: ":")),
                  let length = Int(String(decoding: buffer[..<colon], as: UTF8.self)),
                  buffer.count >= colon + 1 + length + 1 {
                let payload = Data(buffer[(colon + 1)..<(colon + 1 + length)])
                buffer.removeFirst(colon + 1 + length + 1)
                if let object = try? JSONSerialization.jsonObject(with: payload) as? [String: Any],
                   object["response"] as? Bool == true {
                    return object["data"] as? String ?? ""
                }
            }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw BaresipControlError("no response to \(command) from ctrl_tcp") }
            buffer += chunk[..<n]
        }
    }

    /// `/quit` through ctrl_tcp (baresip un-PUBLISHes, un-SUBSCRIBEs and un-REGISTERs), then
    /// waits up to `timeout` for it to exit; kills it if it has not.
    func quit(timeout: Duration = .seconds(5)) async {
        _ = try? control("quit")
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(100)) }
        stop()
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

struct BaresipControlError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
