import NIOCore
import NIOSSL
import SIPCore
import Testing
@testable import SIPTransport

/// Per-listener client certificates: `tls:` serves users without certificates, `mtls:` on
/// the same transport layer (the listener peer servers use) refuses them.
@Suite("mtls: listeners")
struct MutualListenerTests {
    @Test("listen specs: mtls is TLS requiring a client certificate, and round-trips")
    func parsing() throws {
        let spec = try ListenSpec(parsing: "mtls:127.0.0.1:5062")
        #expect(spec.transport == .tls)
        #expect(spec.requiresClientCertificate)
        #expect(spec.description == "mtls:127.0.0.1:5062")
        #expect(try !ListenSpec(parsing: "tls:127.0.0.1:5061").requiresClientCertificate)
        #expect(ListenSpec(transport: .tcp, host: "::1", port: 1, requiresClientCertificate: true).requiresClientCertificate == false)
    }

    @Test("a client without a certificate is served on tls: and refused on mtls: of the same layer")
    func perListenerPolicy() async throws {
        let pki = try PKI()
        let settings = try pki.server.settings(clientCertificates: .optional)
        let (server, inbox) = try await startLayer(["tls:127.0.0.1:0", "mtls:127.0.0.1:0"],
                                                   configuration: SIPTransportConfiguration(tls: settings))
        defer { Task { await server.shutdown() } }
        let listeners = server.listeners
        let open = try #require(listeners.first { !$0.spec.requiresClientCertificate })
        let mutual = try #require(listeners.first { $0.spec.requiresClientCertificate })

        let user = try await RawStreamClient.connect(to: open.localAddress, tls: try pki.rawClientConfiguration(identity: nil),
                                                     serverHostname: "server.test")
        defer { user.channel.close(promise: nil) }
        try await user.send(Sample.options(via: "TLS 127.0.0.1:5061"))
        #expect(try #require(await inbox.next()).tlsPeerNames.isEmpty)

        let intruder = try await RawStreamClient.connect(to: mutual.localAddress,
                                                         tls: try pki.rawClientConfiguration(identity: nil),
                                                         serverHostname: "server.test")
        try? await intruder.send(Sample.options(via: "TLS 127.0.0.1:5062"))
        let outcome = await intruder.closedByPeer()
        #expect(outcome.closed)
        #expect(await inbox.next(timeout: .milliseconds(300)) == nil)

        let peer = try await RawStreamClient.connect(to: mutual.localAddress, tls: try pki.rawClientConfiguration(identity: pki.peer),
                                                     serverHostname: "server.test")
        defer { peer.channel.close(promise: nil) }
        try await peer.send(Sample.options(via: "TLS peer.test:5061"))
        #expect(try #require(await inbox.next()).tlsPeerNames == ["peer.test"])
    }
}
