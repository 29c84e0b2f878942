#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import SIPCore
import Testing
@testable import SIPTransport

@Suite("Loopback UDP and TCP")
struct LoopbackTests {
    @Test("UDP: request in with rport filled and received added; the 200 goes back to the rport (RFC 3581)")
    func udpRPort() async throws {
        let (server, inbox) = try await startLayer(["udp:127.0.0.1:0"])
        defer { Task { await server.shutdown() } }
        let client = try await RawDatagramClient.bind()
        defer { client.channel.close(promise: nil) }
        // sent-by port 9 is wrong on purpose: with rport the response must go to the source port.
        try await client.send(Sample.options(via: "UDP 127.0.0.1:9;rport"), to: server.endpoint(.udp).address)
        let inbound = try #require(await inbox.next())
        let request = try #require(Sample.request(inbound.message))
        let via = try #require(try request.topVia)
        #expect(via.rport == .some(client.port))
        #expect(via.received == "127.0.0.1")
        #expect(inbound.transport == .udp)
        #expect(inbound.remote.port == client.port)
        try await server.sendResponse(SIPResponse(responding: request, statusCode: 200), to: inbound)
        let text = try #require(await client.next())
        #expect(text.hasPrefix("SIP/2.0 200 "))
    }

    @Test("UDP: a sent-by name gets received; without rport the response goes to received and the sent-by port")
    func udpReceived() async throws {
        let (server, inbox) = try await startLayer(["udp:127.0.0.1:0"])
        defer { Task { await server.shutdown() } }
        let client = try await RawDatagramClient.bind()
        defer { client.channel.close(promise: nil) }
        try await client.send(Sample.options(via: "UDP client.invalid:\(client.port)"), to: server.endpoint(.udp).address)
        let inbound = try #require(await inbox.next())
        let request = try #require(Sample.request(inbound.message))
        let via = try #require(try request.topVia)
        #expect(via.received == "127.0.0.1")
        #expect(via.rport == nil)
        try await server.sendResponse(SIPResponse(responding: request, statusCode: 200), to: inbound)
        #expect(try #require(await client.next()).hasPrefix("SIP/2.0 200 "))
    }

    @Test("UDP: a request that fails to parse is answered 400 statelessly")
    func udpStatelessError() async throws {
        let (server, inbox) = try await startLayer(["udp:127.0.0.1:0"])
        defer { Task { await server.shutdown() } }
        let client = try await RawDatagramClient.bind()
        defer { client.channel.close(promise: nil) }
        var text = String(decoding: Sample.options(via: "UDP 127.0.0.1:\(client.port);rport"), as: UTF8.self)
        text = text.replacingOccurrences(of: "Content-Length: 0", with: "Content-Length: 9999")  // RFC 4475 clerr
        try await client.send(Array(text.utf8), to: server.endpoint(.udp).address)
        let reply = try #require(await client.next())
        #expect(reply.hasPrefix("SIP/2.0 400 "))
        #expect(reply.contains("received=127.0.0.1"))
        #expect(await inbox.next(timeout: .milliseconds(300)) == nil)
    }

    @Test("UDP: a Via naming port 0 (PROTOS) is answered at the packet source; broadcast is refused")
    func udpBadViaDestination() async throws {
        let (server, inbox) = try await startLayer(["udp:127.0.0.1:0"])
        defer { Task { await server.shutdown() } }
        let client = try await RawDatagramClient.bind()
        defer { client.channel.close(promise: nil) }
        try await client.send(Sample.options(via: "UDP 127.0.0.1:0"), to: server.endpoint(.udp).address)
        let inbound = try #require(await inbox.next())
        try await server.sendResponse(SIPResponse(responding: try #require(Sample.request(inbound.message)), statusCode: 200), to: inbound)
        #expect(try #require(await client.next()).hasPrefix("SIP/2.0 200 "))
        let broadcast = try SIPEndpoint(transport: .udp, ip: "255.255.255.255", port: 5060)
        await #expect(throws: SIPTransportError.self) { try await server.send(try Sample.optionsMessage(via: "UDP 127.0.0.1:1"), to: broadcast) }
        #expect(server.listeners[0].channel.isActive)
    }

    @Test("UDP: a socket that NIO closes is bound again at the same address")
    func udpRebind() async throws {
        let (server, inbox) = try await startLayer(["udp:127.0.0.1:0"])
        defer { Task { await server.shutdown() } }
        let address = server.endpoint(.udp).address
        try await server.listeners[0].channel.close()
        #expect(await eventually { server.listeners.first?.channel.isActive == true })
        #expect(server.listeners[0].localAddress == address)
        let client = try await RawDatagramClient.bind()
        defer { client.channel.close(promise: nil) }
        try await client.send(Sample.options(via: "UDP 127.0.0.1:\(client.port)"), to: address)
        #expect(await inbox.next() != nil)
    }

    @Test("UDP over IPv6 loopback")
    func udpIPv6() async throws {
        let (server, inbox) = try await startLayer(["udp:[::1]:0"])
        let (client, clientInbox) = try await startLayer(["udp:[::1]:0"])
        defer { Task { await server.shutdown(); await client.shutdown() } }
        let port = client.listeners[0].port
        try await client.send(try Sample.optionsMessage(via: "UDP [::1]:\(port);rport"), to: server.endpoint(.udp))
        let inbound = try #require(await inbox.next())
        #expect(inbound.remote.protocol == .inet6)
        try await server.sendResponse(SIPResponse(responding: try #require(Sample.request(inbound.message)), statusCode: 200), to: inbound)
        #expect(Sample.response(await clientInbox.next()?.message)?.statusCode == 200)
    }

    @Test("TCP: responses go back over the request's connection, and connections are reused both ways (RFC 5923)")
    func tcpReuse() async throws {
        let (server, inbox) = try await startLayer(["tcp:127.0.0.1:0"])
        let (client, clientInbox) = try await startLayer(["tcp:127.0.0.1:0"])
        defer { Task { await server.shutdown(); await client.shutdown() } }
        let clientPort = client.listeners[0].port

        try await client.send(try Sample.optionsMessage(via: "TCP 127.0.0.1:\(clientPort)", callID: "one"), to: server.endpoint(.tcp))
        let first = try #require(await inbox.next())
        try await server.sendResponse(SIPResponse(responding: try #require(Sample.request(first.message)), statusCode: 200), to: first)
        let response = try #require(await clientInbox.next())
        #expect(Sample.response(response.message)?.statusCode == 200)

        try await client.send(try Sample.optionsMessage(via: "TCP 127.0.0.1:\(clientPort)", callID: "two"), to: server.endpoint(.tcp))
        let second = try #require(await inbox.next())
        #expect(second.connectionID == first.connectionID)
        #expect(client.connectionCount == 1)

        // The server reaches the client over the flow the client opened (RFC 5626 §5.2).
        try await server.send(try Sample.optionsMessage(via: "TCP 127.0.0.1:1", callID: "back"), to: first.source)
        let back = try #require(await clientInbox.next())
        #expect(Sample.request(back.message)?.callID == "back")
        #expect(back.connectionID == response.connectionID)
        #expect(server.connectionCount == 1)
        #expect(client.connectionCount == 1)
    }

    @Test("TCP: when the request's connection is gone the response opens one to received and the sent-by port (§18.2.2)")
    func tcpResponseAfterClose() async throws {
        let (server, inbox) = try await startLayer(["tcp:127.0.0.1:0"])
        let (client, clientInbox) = try await startLayer(["tcp:127.0.0.1:0"])
        defer { Task { await server.shutdown(); await client.shutdown() } }
        let clientPort = client.listeners[0].port
        try await client.send(try Sample.optionsMessage(via: "TCP client.invalid:\(clientPort)"), to: server.endpoint(.tcp))
        let inbound = try #require(await inbox.next())
        try await inbound.channel.close()
        try await server.sendResponse(SIPResponse(responding: try #require(Sample.request(inbound.message)), statusCode: 200), to: inbound)
        let response = try #require(await clientInbox.next())
        #expect(Sample.response(response.message)?.statusCode == 200)
        #expect(response.remote.port != server.endpoint(.tcp).address.port, "came over a new connection from the server")
    }

    @Test("an endpoint's connection id (an RFC 5626 flow) is used only while open and leading to the endpoint's address")
    func flowPreferred() async throws {
        let (server, inbox) = try await startLayer(["tcp:127.0.0.1:0"])
        defer { Task { await server.shutdown() } }
        let a = try await RawStreamClient.connect(to: server.endpoint(.tcp).address)
        let b = try await RawStreamClient.connect(to: server.endpoint(.tcp).address)
        defer { a.channel.close(promise: nil); b.channel.close(promise: nil) }
        try await a.send(Sample.options(via: "TCP 127.0.0.1:1", callID: "a"))
        let fromA = try #require(await inbox.next())
        try await b.send(Sample.options(via: "TCP 127.0.0.1:1", callID: "b"))
        let fromB = try #require(await inbox.next())
        // The flow and its address agree: the flow is used.
        try await server.send(try Sample.optionsMessage(via: "TCP 127.0.0.1:1", callID: "to-b"), to: fromB.source)
        #expect(await b.read(until: { $0.contains("to-b") }).contains("to-b"))
        // An id naming a connection to someone else (a stale flow): the address decides.
        var destination = fromA.source
        destination.connectionID = fromB.connectionID
        try await server.send(try Sample.optionsMessage(via: "TCP 127.0.0.1:1", callID: "to-a"), to: destination)
        #expect(await a.read(until: { $0.contains("to-a") }).contains("to-a"))
        try await b.channel.close()
        _ = await eventually { server.connectionCount == 1 }
        // Flow gone: the address decides again.
        destination = fromB.source
        destination.address = fromA.remote
        try await server.send(try Sample.optionsMessage(via: "TCP 127.0.0.1:1", callID: "to-a-again"), to: destination)
        #expect(await a.read(until: { $0.contains("to-a-again") }).contains("to-a-again"))
    }

    @Test("sending to a closed port fails with a transport error")
    func connectFails() async throws {
        // A port bound but never listening: connections are refused, and no other suite
        // running in parallel can take it meanwhile (as it could a port freed by a shutdown).
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
        let (client, _) = try await startLayer(["tcp:127.0.0.1:0"])
        let address = try SIPEndpoint(transport: .tcp, ip: "127.0.0.1", port: Int(UInt16(bigEndian: sin.sin_port)))
        defer { Task { await client.shutdown() } }
        await #expect(throws: SIPTransportError.self) {
            try await client.send(try Sample.optionsMessage(via: "TCP 127.0.0.1:1"), to: address)
        }
    }

    @Test("a port that is taken fails start with bindFailed")
    func bindFails() async throws {
        let (server, _) = try await startLayer(["tcp:127.0.0.1:0"])
        defer { Task { await server.shutdown() } }
        let taken = server.listeners[0].port
        let other = try SIPTransportLayer()
        await #expect(throws: SIPTransportError.self) {
            try await other.start([ListenSpec(transport: .tcp, host: "127.0.0.1", port: taken)], handler: Inbox())
        }
    }
}
