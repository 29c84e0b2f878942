import NIOCore
import SIPCore
import Testing
@testable import SIPTransport

/// `sendKeepalive(to:)`, the RFC 5626 §4.4.1 ping a user agent sends on its flow: it goes
/// on the open connection, never opens one, and fails once the flow is gone.
@Suite("RFC 5626 keepalives sent on a flow")
struct KeepaliveTests {
    @Test("no open connection: the ping fails and no connection is made")
    func neverConnects() async throws {
        let (server, _) = try await startLayer(["tcp:127.0.0.1:0"])
        let (client, _) = try await startLayer(["udp:127.0.0.1:0"])
        defer { Task { await server.shutdown(); await client.shutdown() } }
        await #expect(throws: SIPTransportError.self) { try await client.sendKeepalive(to: server.endpoint(.tcp)).get() }
        #expect(client.connectionCount == 0)
        #expect(server.connectionCount == 0)
    }

    @Test("on the open flow the ping is sent; once the peer closes it, it fails")
    func pingsTheFlowUntilItCloses() async throws {
        let (server, inbox) = try await startLayer(["tcp:127.0.0.1:0"])
        let (client, _) = try await startLayer(["udp:127.0.0.1:0"])
        defer { Task { await server.shutdown(); await client.shutdown() } }
        let request = try SIPParser.parseDatagram(Sample.options(via: "TCP 127.0.0.1:1", callID: "flow"))
        try await client.send(request, to: server.endpoint(.tcp))
        let inbound = try #require(await inbox.next())
        try await client.sendKeepalive(to: server.endpoint(.tcp)).get()
        // The ping is no message: the server delivers nothing for it (it answers a pong).
        #expect(await inbox.next(timeout: .milliseconds(300)) == nil)
        #expect(server.connectionCount == 1)

        server.closeConnection(inbound.connectionID)
        #expect(await eventually { client.connectionCount == 0 })
        await #expect(throws: SIPTransportError.self) { try await client.sendKeepalive(to: server.endpoint(.tcp)).get() }
    }

    @Test("over UDP the ping is a datagram the receiver drops")
    func datagram() async throws {
        let (server, inbox) = try await startLayer(["udp:127.0.0.1:0"])
        let (client, _) = try await startLayer(["udp:127.0.0.1:0"])
        defer { Task { await server.shutdown(); await client.shutdown() } }
        try await client.sendKeepalive(to: server.endpoint(.udp)).get()
        #expect(await inbox.next(timeout: .milliseconds(300)) == nil)
    }
}
