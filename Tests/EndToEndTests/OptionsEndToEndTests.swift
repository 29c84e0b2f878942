import Foundation
import SIPCore
import SIPTransaction
import SIPTransport
import Synchronization
import SIPTestSupport
import Testing

/// Issue 3 "done means": OPTIONS over real loopback sockets gets 200 from the assembly;
/// UDP retransmissions of one request reach the handler once.
@Suite(.serialized) struct OptionsEndToEndTests {
    @Test(arguments: [("u1", SIPTransportKind.udp), ("t1", SIPTransportKind.tcp)])
    func sippOptionsGets200(sippTransport: String, kind: SIPTransportKind) async throws {
        try #require(Sipp.isInstalled, "sipp is not installed (Debian package sip-tester)")
        let running = try await RunningServer.start([kind])
        let port = try #require(running.port(kind))
        let (status, errors) = try await Sipp.run("options.xml", transport: sippTransport, port: port)
        try await running.stop()
        #expect(status == 0, "sipp failed: \(errors)")
    }

    @Test func optionsOverTLSGets200() async throws {
        let pki = try TransactionTestPKI()
        let running = try await RunningServer.start([.tls], tls: try pki.settings())
        let port = try #require(running.port(.tls))
        if Sipp.isInstalled && Sipp.supportsTLS {
            let dir = try pki.writePEMs()
            defer { try? FileManager.default.removeItem(at: dir) }
            let (status, errors) = try await Sipp.run(
                "options.xml", transport: "l1", port: port,
                extra: ["-tls_cert", dir.appendingPathComponent("cert.pem").path,
                        "-tls_key", dir.appendingPathComponent("key.pem").path])
            #expect(status == 0, "sipp failed: \(errors)")
        } else {
            // This machine's sipp has no TLS (`sipp -v`): send the OPTIONS from a second
            // assembly's client transaction over TLS instead.
            print("NOTE optionsOverTLSGets200: sipp without TLS support; using an in-process TLS client")
            let client = try await RunningServer.start([.tls], tls: try pki.settings())
            var options = SIPRequest(method: .options, uri: URI("sip:127.0.0.1:\(port);transport=tls")!)
            options.headers.append("Max-Forwards", "70")
            options.headers.append("From", "<sip:client@localhost>;tag=tls1")
            options.headers.append("To", "<sip:127.0.0.1:\(port)>")
            options.headers.append("Call-ID", "tls-options-\(UUID().uuidString)")
            options.headers.append("CSeq", "1 OPTIONS")
            options.headers.append("Content-Length", "0")
            let destination = SIPDestination(transport: .tls, address: SIPHostPort(host: "127.0.0.1", port: port))
            let transaction = try await client.server.layer.start(options, to: destination)
            let response = try await transaction.finalResponse()
            #expect(response.statusCode == 200)
            #expect(response.headers.first("Allow")?.contains("OPTIONS") == true)
            try await client.stop()
        }
        try await running.stop()
    }

    @Test func udpRetransmissionsReachTheHandlerOnce() async throws {
        try #require(Sipp.isInstalled, "sipp is not installed (Debian package sip-tester)")
        let calls = Mutex(0)
        let handler = SIPClosureHandler { transaction in
            calls.withLock { $0 += 1 }
            try? transaction.respond(200)
        }
        let running = try await RunningServer.start([.udp], handlers: [.message: handler])
        let port = try #require(running.port(.udp))
        let (status, errors) = try await Sipp.run("message-retransmitted.xml", transport: "u1", port: port)
        try await running.stop()
        #expect(status == 0, "sipp failed: \(errors)")
        #expect(calls.withLock { $0 } == 1)
    }

    /// `../shared/tools/protos-replay` against a running assembly: set SIP_PROTOS_REPLAY to
    /// the tool's path to run it (minutes long, so not in the default suite);
    /// SIP_PROTOS_REPLAY_ARGS adds arguments (e.g. `--first 0 --last 99`).
    @Test(.enabled(if: ProcessInfo.processInfo.environment["SIP_PROTOS_REPLAY"] != nil))
    func protosReplaySurvives() async throws {
        let tool = ProcessInfo.processInfo.environment["SIP_PROTOS_REPLAY"]!
        let running = try await RunningServer.start([.udp, .tcp])
        for kind in [SIPTransportKind.udp, .tcp] {
            let port = try #require(running.port(kind))
            let process = Process()
            process.executableURL = URL(fileURLWithPath: tool)
            let extra = ProcessInfo.processInfo.environment["SIP_PROTOS_REPLAY_ARGS"]?.split(separator: " ").map(String.init) ?? []
            process.arguments = ["--target", "127.0.0.1:\(port)", "--transport", kind.rawValue] + extra
            let pipe = Pipe()
            process.standardOutput = pipe
            let output = try await offThePool {
                try process.run()
                let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                process.waitUntilExit()
                return output
            }
            print("protos-replay \(kind): \(output.split(separator: "\n").last ?? "")")
            #expect(process.terminationStatus == 0, "protos-replay \(kind): \(output.suffix(2000))")
        }
        try await running.stop()
    }
}
