import Foundation
import NIOCore
import SIPCore
import Testing
@testable import SIPTransport

@Suite("Life cycle and TLS settings from files")
struct LifecycleTests {
    @Test("stopListening refuses new connections but open ones keep working; shutdown stops sending")
    func gracefulStop() async throws {
        let (server, inbox) = try await startLayer(["tcp:127.0.0.1:0", "udp:127.0.0.1:0"])
        let address = server.endpoint(.tcp).address
        let open = try await RawStreamClient.connect(to: address)
        defer { open.channel.close(promise: nil) }
        try await open.send(Sample.options(via: "TCP 127.0.0.1:1", callID: "before"))
        let inbound = try #require(await inbox.next())

        await server.stopListening()
        // Refused, or (the port freed and taken at once by another test's listener, when suites
        // run in parallel) someone else's: either way nothing new reaches this layer.
        if let late = try? await RawStreamClient.connect(to: address) {
            try? await late.send(Sample.options(via: "TCP 127.0.0.1:1", callID: "after"))
            #expect(await inbox.next(timeout: .milliseconds(300)) == nil)
            late.channel.close(promise: nil)
        }
        // An in-flight transaction can still answer over its connection.
        try await server.sendResponse(SIPResponse(responding: try #require(Sample.request(inbound.message)), statusCode: 200), to: inbound)
        #expect(await open.read(until: { $0.contains("\r\n\r\n") }).hasPrefix("SIP/2.0 200 "))

        await server.shutdown()
        #expect(server.listeners.isEmpty)
        #expect(await eventually { server.connectionCount == 0 })
        await #expect(throws: SIPTransportError.self) { try await server.send(try Sample.optionsMessage(via: "TCP 127.0.0.1:1"), to: inbound.source) }
    }

    @Test("start twice is refused")
    func startTwice() async throws {
        let (server, _) = try await startLayer(["udp:127.0.0.1:0"])
        defer { Task { await server.shutdown() } }
        await #expect(throws: SIPTransportError.self) { try await server.start([], handler: Inbox()) }
    }

    @Test("certificate, key and CA load from PEM files; a missing file is a tlsConfiguration error")
    func pemFiles() async throws {
        let ca = try TestCA("File CA")
        let identity = try ca.issue(commonName: "files.test", dnsNames: ["files.test"])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sip-transport-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let cert = dir.appendingPathComponent("cert.pem"), key = dir.appendingPathComponent("key.pem"), caFile = dir.appendingPathComponent("ca.pem")
        try identity.certificatePEM.write(to: cert, atomically: true, encoding: .utf8)
        try identity.keyPEM.write(to: key, atomically: true, encoding: .utf8)
        try identity.caPEM.write(to: caFile, atomically: true, encoding: .utf8)

        let settings = try SIPTLSSettings(certificateChainPEMFile: cert.path, privateKeyPEMFile: key.path, trustRootsPEMFile: caFile.path)
        #expect(settings.certificateChain.count == 1)
        #expect(settings.trustRoots.count == 1)
        let (server, inbox) = try await startLayer(["tls:127.0.0.1:0"], configuration: .init(tls: settings))
        let (client, _) = try await startLayer([], configuration: .init(tls: settings))
        defer { Task { await server.shutdown(); await client.shutdown() } }
        try await client.send(try Sample.optionsMessage(via: "TLS files.test:5061"), to: server.endpoint(.tls, tlsServerName: "files.test"))
        #expect(try #require(await inbox.next()).tlsPeerNames.isEmpty, "no client certificate asked for")

        #expect(throws: SIPTransportError.self) {
            try SIPTLSSettings(certificateChainPEMFile: dir.appendingPathComponent("missing.pem").path, privateKeyPEMFile: key.path)
        }
        #expect(throws: SIPTransportError.self) {
            try SIPTLSSettings(certificateChainPEMFile: key.path, privateKeyPEMFile: key.path)  // a key is no certificate
        }
    }
}
