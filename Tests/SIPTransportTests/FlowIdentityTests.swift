import NIOCore
import NIOEmbedded
import SIPCore
import Testing

#if canImport(Glibc)
import Glibc
#endif
@testable import SIPTransport

/// RFC 5626 flows that cannot be confused: ids unique across transport layers (processes),
/// a flow used only for its own remote address, and closed connections reported at once
/// (RFC 3261 §17.1.4).
@Suite("Flow identity and closed-connection notice")
struct FlowIdentityTests {
    @Test("two transport layers hand out disjoint, non-zero ids (a restart cannot reuse a saved flow id)")
    func idsAcrossLayers() async throws {
        let (one, inboxOne) = try await startLayer(["udp:127.0.0.1:0", "tcp:127.0.0.1:0"])
        let (two, inboxTwo) = try await startLayer(["udp:127.0.0.1:0", "tcp:127.0.0.1:0"])
        defer { Task { await one.shutdown(); await two.shutdown() } }
        func ids(_ layer: SIPTransportLayer, _ inbox: Inbox) async throws -> Set<UInt64> {
            var ids: Set<UInt64> = []
            let udp = try await RawDatagramClient.bind()
            defer { udp.channel.close(promise: nil) }
            try await udp.send(Sample.options(via: "UDP 127.0.0.1:\(udp.port)"), to: layer.endpoint(.udp).address)
            ids.insert(try #require(await inbox.next()).connectionID.rawValue)
            for i in 0..<3 {
                let tcp = try await RawStreamClient.connect(to: layer.endpoint(.tcp).address)
                defer { tcp.channel.close(promise: nil) }
                try await tcp.send(Sample.options(via: "TCP 127.0.0.1:1", callID: "c\(i)"))
                ids.insert(try #require(await inbox.next()).connectionID.rawValue)
            }
            return ids
        }
        let a = try await ids(one, inboxOne)
        let b = try await ids(two, inboxTwo)
        #expect(a.count == 4 && b.count == 4)
        #expect(a.isDisjoint(with: b), "\(a) vs \(b)")
        #expect(!a.contains(0) && !b.contains(0))
        // Many more from fresh tables: still disjoint and never 0.
        let t1 = SIPConnectionTable(maxConnections: 1, maxConnectionsPerIP: 1)
        let t2 = SIPConnectionTable(maxConnections: 1, maxConnectionsPerIP: 1)
        let many1 = Set((0..<1000).map { _ in t1.makeID().rawValue })
        let many2 = Set((0..<1000).map { _ in t2.makeID().rawValue })
        #expect(many1.count == 1000 && many1.isDisjoint(with: many2) && !many1.contains(0))
        #expect((a.union(b).union(many1).union(many2)).allSatisfy { $0 <= UInt64(Int64.max) }, "ids fit an Int64")
    }

    @Test("a send naming a live connection id with another address does not go on that connection")
    func idWithOtherAddress() async throws {
        let (server, inbox) = try await startLayer(["tcp:127.0.0.1:0"])
        defer { Task { await server.shutdown() } }
        let alice = try await RawStreamClient.connect(to: server.endpoint(.tcp).address)
        let carol = try await RawStreamClient.connect(to: server.endpoint(.tcp).address)
        defer { alice.channel.close(promise: nil); carol.channel.close(promise: nil) }
        try await alice.send(Sample.options(via: "TCP 127.0.0.1:1", callID: "alice"))
        let fromAlice = try #require(await inbox.next())
        try await carol.send(Sample.options(via: "TCP 127.0.0.1:1", callID: "carol"))
        let fromCarol = try #require(await inbox.next())
        // A binding of alice's that names carol's connection (e.g. an id saved before a restart).
        var destination = fromAlice.source
        destination.connectionID = fromCarol.connectionID
        try await server.send(try Sample.optionsMessage(via: "TCP 127.0.0.1:1", callID: "for-alice"), to: destination)
        #expect(await alice.read(until: { $0.contains("for-alice") }).contains("for-alice"))
        // Same through the fire-and-forget path.
        server.send(try Sample.optionsMessage(via: "TCP 127.0.0.1:1", callID: "again-alice"), to: destination) { _ in }
        #expect(await alice.read(until: { $0.contains("again-alice") }).contains("again-alice"))
        try await server.send(try Sample.optionsMessage(via: "TCP 127.0.0.1:1", callID: "for-carol"), to: fromCarol.source)
        let carolGot = await carol.read(until: { $0.contains("for-carol") })
        #expect(carolGot.contains("for-carol"))
        #expect(!carolGot.contains("for-alice") && !carolGot.contains("again-alice"), "nothing of alice's went to carol")
        #expect(server.connectionCount == 2, "no new connection was needed")
    }

    @Test("a flow token keeps the flow's address with its id; sending to it uses the flow")
    func flowToken() async throws {
        let v6 = SIPEndpoint(transport: .tls, address: try SocketAddress(ipAddress: "2001:db8::1", port: 40000),
                             connectionID: SIPConnectionID(rawValue: 0xABCD_0000_0001))
        #expect(v6.flowToken == "tls:[2001:db8::1]:40000#188896956645377")
        #expect(try SIPEndpoint(flowToken: try #require(v6.flowToken)) == v6)
        #expect(SIPEndpoint(transport: .tcp, address: v6.address).flowToken == nil)
        for bad in ["tcp:192.0.2.1:5060", "tcp:192.0.2.1:5060#0", "tcp:host.example:5060#7", "sctp:192.0.2.1:5060#7", "#7"] {
            #expect(throws: SIPTransportError.self) { try SIPEndpoint(flowToken: bad) }
        }
        let (server, inbox) = try await startLayer(["tcp:127.0.0.1:0"])
        defer { Task { await server.shutdown() } }
        let client = try await RawStreamClient.connect(to: server.endpoint(.tcp).address)
        defer { client.channel.close(promise: nil) }
        try await client.send(Sample.options(via: "TCP 127.0.0.1:1", callID: "register"))
        let inbound = try #require(await inbox.next())
        let token = try #require(inbound.source.flowToken)
        try await server.send(try Sample.optionsMessage(via: "TCP 127.0.0.1:1", callID: "over-flow"), to: try SIPEndpoint(flowToken: token))
        #expect(await client.read(until: { $0.contains("over-flow") }).contains("over-flow"))
        #expect(server.connectionCount == 1)
    }

    @Test("closing an inbound connection is reported with its id, and isConnectionOpen turns false")
    func inboundCloseReported() async throws {
        let (server, inbox) = try await startLayer(["tcp:127.0.0.1:0"])
        defer { Task { await server.shutdown() } }
        let client = try await RawStreamClient.connect(to: server.endpoint(.tcp).address)
        try await client.send(Sample.options(via: "TCP 127.0.0.1:1"))
        let id = try #require(await inbox.next()).connectionID
        #expect(server.isConnectionOpen(id))
        #expect(inbox.inactiveConnections.isEmpty)
        try await client.channel.close()
        #expect(await eventually { inbox.inactiveConnections == [id] })
        #expect(!server.isConnectionOpen(id))
        #expect(!server.isConnectionOpen(SIPConnectionID(rawValue: 0)))
    }

    @Test("closing an outbound connection (by the peer) is reported to the side that opened it")
    func outboundCloseReported() async throws {
        let (server, inbox) = try await startLayer(["tcp:127.0.0.1:0"])
        let (client, clientInbox) = try await startLayer(["tcp:127.0.0.1:0"])
        defer { Task { await server.shutdown(); await client.shutdown() } }
        try await client.send(try Sample.optionsMessage(via: "TCP 127.0.0.1:\(client.listeners[0].port)"), to: server.endpoint(.tcp))
        let request = try #require(await inbox.next())
        try await server.sendResponse(SIPResponse(responding: try #require(Sample.request(request.message)), statusCode: 200), to: request)
        let outboundID = try #require(await clientInbox.next()).connectionID
        #expect(client.isConnectionOpen(outboundID))
        server.closeConnection(request.connectionID)
        #expect(await eventually { clientInbox.inactiveConnections == [outboundID] })
        #expect(await eventually { inbox.inactiveConnections == [request.connectionID] })
        #expect(!client.isConnectionOpen(outboundID))
    }

    @Test("TLS: connections past the per-IP cap are closed at accept")
    func perIPCapTLS() async throws {
        let pki = try PKI()
        var config = SIPTransportConfiguration(tls: try pki.server.settings())
        config.maxConnectionsPerIP = 1
        let (server, inbox) = try await startLayer(["tls:127.0.0.1:0"], configuration: config)
        defer { Task { await server.shutdown() } }
        let tls = try pki.rawClientConfiguration(identity: nil)
        let a = try await RawStreamClient.connect(to: server.endpoint(.tls).address, tls: tls, serverHostname: "server.test")
        defer { a.channel.close(promise: nil) }
        try await a.send(Sample.options(via: "TLS 127.0.0.1:1"))
        _ = try #require(await inbox.next())
        let b = try await RawStreamClient.connect(to: server.endpoint(.tls).address, tls: tls, serverHostname: "server.test")
        #expect(await b.closedByPeer(timeout: .seconds(10)).closed, "the second connection is closed at once")
        #expect(a.channel.isActive)
        #expect(server.connectionCount == 1)
    }

    @Test("a refused or failed outbound connection leaves nothing in the pending map")
    func pendingBounded() async throws {
        var config = SIPTransportConfiguration()
        config.maxConnections = 1
        let (server, _) = try await startLayer(["tcp:127.0.0.1:0"])
        // A port bound but never listening: connections are refused, and no suite running in
        // parallel can take it meanwhile (as it could a port freed by a shutdown).
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        try #require(bound)
        let closedEndpoint = try SIPEndpoint(transport: .tcp, ip: "127.0.0.1", port: Int(UInt16(bigEndian: sin.sin_port)))
        let (client, _) = try await startLayer(["tcp:127.0.0.1:0"], configuration: config)
        defer { Task { await server.shutdown(); await client.shutdown() } }
        await #expect(throws: SIPTransportError.self) {
            try await client.send(try Sample.optionsMessage(via: "TCP 127.0.0.1:1"), to: closedEndpoint)
        }
        try await client.send(try Sample.optionsMessage(via: "TCP 127.0.0.1:1"), to: server.endpoint(.tcp))
        for port in 1..<20 {  // over the cap: refused without opening
            let endpoint = try SIPEndpoint(transport: .tcp, ip: "127.0.0.1", port: port)
            await #expect(throws: SIPTransportError.self) {
                try await client.send(try Sample.optionsMessage(via: "TCP 127.0.0.1:1"), to: endpoint)
            }
        }
        #expect(client.table.pendingCount == 0)
        #expect(client.connectionCount == 1)
    }

    @Test("a second connection to the same remote takes over its key when the first closes")
    func standbyTakesOver() throws {
        let table = SIPConnectionTable(maxConnections: 10, maxConnectionsPerIP: 10)
        let remote = try SocketAddress(ipAddress: "192.0.2.9", port: 5060)
        let key = SIPConnectionTable.Key(transport: .tcp, remote: remote)
        let loop = EmbeddedEventLoop()
        let channels = try (0..<3).map { _ in
            let channel = EmbeddedChannel(loop: loop)
            try channel.connect(to: remote).wait()
            return channel
        }
        let ids = channels.map { _ in table.makeID() }
        for (id, channel) in zip(ids, channels) { table.register(.init(id: id, key: key, channel: channel)) }
        func holder() -> ObjectIdentifier? {
            switch table.lookup(key, eventLoop: loop) {
            case .open(let channel): return ObjectIdentifier(channel)
            case .opening: return nil
            case .mustOpen(let promise):
                promise.fail(SIPTransportError(.connectFailed, "test"))
                table.finishPending(key)
                return nil
            }
        }
        #expect(holder() == ObjectIdentifier(channels[0]))
        table.remove(ids[1])  // a standby one leaves: nothing changes
        #expect(holder() == ObjectIdentifier(channels[0]))
        table.remove(ids[0])
        #expect(holder() == ObjectIdentifier(channels[2]))
        table.remove(ids[2])
        #expect(holder() == nil)
        #expect(table.count == 0 && table.pendingCount == 0)
    }

    @Test("RFC 3261 §18.1.1: over 1300 bytes a request should use a congestion-controlled transport")
    func congestionControlThreshold() {
        #expect(!SIPTransportLayer.shouldUseCongestionControlledTransport(messageSize: 1300))
        #expect(SIPTransportLayer.shouldUseCongestionControlledTransport(messageSize: 1301))
        #expect(!SIPTransportLayer.shouldUseCongestionControlledTransport(messageSize: 200))
    }
}
