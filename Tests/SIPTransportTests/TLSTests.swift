import NIOCore
import NIOSSL
import SIPCore
import Testing
@testable import SIPTransport

/// One PKI for the suite: a CA, a server, the expected peer, a peer with the wrong name, and a
/// peer from another CA.
struct PKI {
    let ca: TestCA
    let server: TestIdentity
    let peer: TestIdentity
    let wrongName: TestIdentity
    let otherCA: TestIdentity
    let cnOnly: TestIdentity

    init() throws {
        ca = try TestCA("SIP Test CA")
        server = try ca.issue(commonName: "server.test", dnsNames: ["server.test"])
        peer = try ca.issue(commonName: "ignored-cn", dnsNames: ["peer.test"])
        wrongName = try ca.issue(commonName: "peer.test", dnsNames: ["intruder.test"])  // SANs win over the CN
        cnOnly = try ca.issue(commonName: "peer.test", dnsNames: [])
        otherCA = try TestCA("Other CA").issue(commonName: "peer.test", dnsNames: ["peer.test"])
    }

    /// A server with a mutual-TLS listener that expects `peer.test`.
    func mutualTLSServer() async throws -> (SIPTransportLayer, Inbox) {
        let settings = try server.settings(clientCertificates: .required, inboundPeerNames: .names(["peer.test"]))
        return try await startLayer(["tls:127.0.0.1:0"], configuration: SIPTransportConfiguration(tls: settings))
    }

    func rawClientConfiguration(identity: TestIdentity?) throws -> TLSConfiguration {
        var config = TLSConfiguration.makeClientConfiguration()
        config.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(ca.pem.utf8)))
        config.minimumTLSVersion = .tlsv12
        if let identity {
            config.certificateChain = [.certificate(try identity.nioCertificate)]
            config.privateKey = .privateKey(try identity.nioKey)
        }
        return config
    }
}

@Suite("TLS and mutual TLS (RFC 5922, RFC 5923)")
struct TLSTests {
    @Test("TLS: a client without a certificate is served when none is required")
    func plainTLS() async throws {
        let pki = try PKI()
        let (server, inbox) = try await startLayer(["tls:127.0.0.1:0"], configuration: .init(tls: try pki.server.settings()))
        defer { Task { await server.shutdown() } }
        let client = try await RawStreamClient.connect(to: server.endpoint(.tls).address,
                                                       tls: try pki.rawClientConfiguration(identity: nil), serverHostname: "server.test")
        defer { client.channel.close(promise: nil) }
        try await client.send(Sample.options(via: "TLS 127.0.0.1:5061"))
        let inbound = try #require(await inbox.next())
        #expect(inbound.transport == .tls)
        #expect(inbound.tlsPeerNames.isEmpty)
        try await server.sendResponse(SIPResponse(responding: try #require(Sample.request(inbound.message)), statusCode: 200), to: inbound)
        #expect(await client.read(until: { $0.contains("\r\n\r\n") }).hasPrefix("SIP/2.0 200 "))
    }

    @Test("mutual TLS: server to server with the right certificate is served both ways")
    func mutualServed() async throws {
        let pki = try PKI()
        let (server, inbox) = try await pki.mutualTLSServer()
        let (client, clientInbox) = try await startLayer([], configuration: .init(tls: try pki.peer.settings()))
        defer { Task { await server.shutdown(); await client.shutdown() } }
        try await client.send(try Sample.optionsMessage(via: "TLS peer.test:5061"), to: server.endpoint(.tls, tlsServerName: "server.test"))
        let inbound = try #require(await inbox.next())
        #expect(inbound.tlsPeerNames == ["peer.test"])
        try await server.sendResponse(SIPResponse(responding: try #require(Sample.request(inbound.message)), statusCode: 200), to: inbound)
        let response = try #require(await clientInbox.next())
        #expect(Sample.response(response.message)?.statusCode == 200)
        #expect(response.tlsPeerNames == ["server.test"])
    }

    @Test("RFC 5923 alias: the server reaches the peer's advertised sent-by over the peer's own connection")
    func alias() async throws {
        let pki = try PKI()
        let (server, inbox) = try await pki.mutualTLSServer()
        let (client, clientInbox) = try await startLayer(["tls:127.0.0.1:0"], configuration: .init(tls: try pki.peer.settings()))
        defer { Task { await server.shutdown(); await client.shutdown() } }
        let clientPort = client.listeners[0].port
        try await client.send(try Sample.optionsMessage(via: "TLS peer.test:\(clientPort);alias"), to: server.endpoint(.tls, tlsServerName: "server.test"))
        let inbound = try #require(await inbox.next())
        try await server.sendResponse(SIPResponse(responding: try #require(Sample.request(inbound.message)), statusCode: 200), to: inbound)
        let response = try #require(await clientInbox.next())
        let peerAddress = try SIPEndpoint(transport: .tls, ip: "127.0.0.1", port: clientPort, tlsServerName: "peer.test")
        try await server.send(try Sample.optionsMessage(via: "TLS server.test:5061", callID: "back"), to: peerAddress)
        let back = try #require(await clientInbox.next())
        #expect(Sample.request(back.message)?.callID == "back")
        #expect(back.connectionID == response.connectionID, "over the connection the peer opened")
        #expect(server.connectionCount == 1)
    }

    @Test("mutual TLS: a certificate with only a CN is checked by its CN")
    func mutualCNOnly() async throws {
        let pki = try PKI()
        let (server, inbox) = try await pki.mutualTLSServer()
        defer { Task { await server.shutdown() } }
        let client = try await RawStreamClient.connect(to: server.endpoint(.tls).address,
                                                       tls: try pki.rawClientConfiguration(identity: pki.cnOnly), serverHostname: "server.test")
        defer { client.channel.close(promise: nil) }
        try await client.send(Sample.options(via: "TLS peer.test:5061"))
        #expect(try #require(await inbox.next()).tlsPeerNames == ["peer.test"])
    }

    enum Refused: String, CaseIterable { case noCertificate, otherCA, wrongName }

    @Test("mutual TLS refuses a client with no certificate, another CA's certificate, or another name", arguments: Refused.allCases)
    func mutualRefused(_ kind: Refused) async throws {
        let pki = try PKI()
        let (server, inbox) = try await pki.mutualTLSServer()
        defer { Task { await server.shutdown() } }
        let identity: TestIdentity? = switch kind {
        case .noCertificate: nil
        case .otherCA: pki.otherCA
        case .wrongName: pki.wrongName
        }
        let client = try await RawStreamClient.connect(to: server.endpoint(.tls).address,
                                                       tls: try pki.rawClientConfiguration(identity: identity), serverHostname: "server.test")
        try? await client.send(Sample.options(via: "TLS peer.test:5061"))
        let outcome = await client.closedByPeer()
        #expect(outcome.closed, "the server closes the connection")
        #expect(!outcome.text.contains("SIP/2.0"), "and never answers")
        #expect(await inbox.next(timeout: .milliseconds(300)) == nil)
    }

    @Test("outbound TLS refuses a server whose certificate is for another name")
    func outboundWrongServerName() async throws {
        let pki = try PKI()
        let (server, inbox) = try await pki.mutualTLSServer()
        let (client, _) = try await startLayer([], configuration: .init(tls: try pki.peer.settings()))
        defer { Task { await server.shutdown(); await client.shutdown() } }
        await #expect(throws: SIPTransportError.self) {
            try await client.send(try Sample.optionsMessage(via: "TLS peer.test:5061"), to: server.endpoint(.tls, tlsServerName: "elsewhere.test"))
        }
        #expect(await inbox.next(timeout: .milliseconds(300)) == nil)
    }

    @Test("TLS listener without certificate settings fails to start")
    func tlsNeedsCertificate() async throws {
        let layer = try SIPTransportLayer()
        await #expect(throws: SIPTransportError.self) {
            try await layer.start([ListenSpec(transport: .tls, host: "127.0.0.1", port: 0)], handler: Inbox())
        }
    }

    @Test("certificate names: DNS SANs, else the CN")
    func names() throws {
        let pki = try PKI()
        #expect(SIPCertificateNames.names(of: try pki.peer.nioCertificate) == ["peer.test"])
        #expect(SIPCertificateNames.names(of: try pki.cnOnly.nioCertificate) == ["peer.test"])
        #expect(SIPCertificateNames.names(of: try pki.wrongName.nioCertificate) == ["intruder.test"])
    }
}
