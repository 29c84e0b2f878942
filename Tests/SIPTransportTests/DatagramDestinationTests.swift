import NIOCore
import SIPCore
import Testing
@testable import SIPTransport

/// A datagram the kernel refuses to send (a broadcast address: EACCES; from a loopback-bound
/// socket to any other address: EINVAL) makes NIO close the UDP socket. One forged Via or
/// Contact naming such an address must fail that one message, never the listener.
@Suite("UDP destinations")
struct DatagramDestinationTests {
    static func address(_ ip: String, _ port: Int = 5060) throws -> SocketAddress { try SocketAddress(ipAddress: ip, port: port) }

    @Test("which destinations a socket may send to")
    func destinations() throws {
        let loopback = try Self.address("127.0.0.1"), global = try Self.address("192.0.2.2")
        for ip in ["127.255.255.255", "255.255.255.255", "0.0.0.0", "0.1.2.3", "224.0.0.1", "240.0.0.1", "8.8.8.8"] {
            #expect(!(try Self.address(ip)).isUsableUnicastDestination(from: loopback), "\(ip) from 127.0.0.1")
        }
        #expect(try Self.address("127.0.0.2").isUsableUnicastDestination(from: loopback))
        #expect(try Self.address("8.8.8.8").isUsableUnicastDestination(from: global))
        #expect(!(try Self.address("127.255.255.255")).isUsableUnicastDestination(from: global))
        #expect(!(try Self.address("127.0.0.1", 0)).isUsableUnicastDestination(from: loopback))
        #expect(try Self.address("::1").isUsableUnicastDestination(from: try Self.address("::1")))
        #expect(!(try Self.address("2001:db8::1")).isUsableUnicastDestination(from: try Self.address("::1")))
        #expect(!(try Self.address("fe80::1")).isUsableUnicastDestination(from: try Self.address("::")))
        #expect(!(try Self.address("ff02::1")).isUsableUnicastDestination(from: nil))
        // Another address family than the socket's (EAFNOSUPPORT).
        #expect(!(try Self.address("2001:db8::9")).isUsableUnicastDestination(from: global))
        #expect(!(try Self.address("192.0.2.9")).isUsableUnicastDestination(from: try Self.address("2001:db8::1")))
    }

    /// RFC 5118 §4.5 puts a `received` in the sender's own top Via. Only the receiving
    /// transport may write it: the forged value (here an IPv6 address, which an IPv4 socket
    /// cannot even send to) is replaced by the packet's source, the response goes there, and
    /// the listener stays open.
    @Test("a received parameter the sender wrote is replaced by the source address")
    func forgedReceived() async throws {
        let (server, inbox) = try await startLayer(["udp:127.0.0.1:0"])
        defer { Task { await server.shutdown() } }
        let listener = try #require(server.listeners.first).channel
        let client = try await RawDatagramClient.bind()
        defer { client.channel.close(promise: nil) }
        for (i, received) in ["[2001:db8::9:255]", "192.0.2.77", "127.0.0.9", "127.0.0.1;received=192.0.2.78",
                              "192.0.2.79;rport=5999"].enumerated() {
            try await client.send(Sample.options(via: "UDP 127.0.0.1:\(client.port);received=\(received)", branch: "z9hG4bK-f\(i)"),
                                  to: server.endpoint(.udp).address)
            let inbound = try #require(await inbox.next())
            let request = try #require(Sample.request(inbound.message))
            let via = try #require(try request.topVia)
            // The sent-by is the source here: a received is not needed, but any left is the source.
            #expect(via.received == nil || via.received == "127.0.0.1", "\(via)")
            #expect(via.parameters.count { $0.name == "received" } <= 1, "\(via)")
            #expect(!via.description.contains("192.0.2."), "\(via)")
            if via.rport != nil { #expect(via.rport == .some(client.port), "a sender's rport value is replaced") }
            try await server.sendResponse(SIPResponse(responding: request, statusCode: 200), to: inbound)
            #expect(try #require(await client.next()).hasPrefix("SIP/2.0 200 "), "received=\(received)")
        }
        #expect(server.listeners.first?.channel === listener, "the UDP listener was closed and bound again")
    }

    @Test("a request sent to the loopback broadcast or beyond loopback fails alone; the listener stays open")
    func listenerSurvives() async throws {
        let (server, inbox) = try await startLayer(["udp:127.0.0.1:0"])
        defer { Task { await server.shutdown() } }
        let listener = try #require(server.listeners.first).channel
        let request = try SIPParser.parseDatagram(Array("""
            OPTIONS sip:x@127.255.255.255 SIP/2.0\r
            Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-bcast\r
            Max-Forwards: 70\r
            From: <sip:a@example.com>;tag=1\r
            To: <sip:x@example.com>\r
            Call-ID: bcast-1\r
            CSeq: 1 OPTIONS\r
            Content-Length: 0\r
            \r

            """.utf8))
        for ip in ["127.255.255.255", "8.8.8.8"] {
            await #expect(throws: SIPTransportError.self) {
                try await server.send(request, to: SIPEndpoint(transport: .udp, address: try Self.address(ip, 9)))
            }
        }
        try await Task.sleep(for: .milliseconds(200))
        #expect(server.listeners.first?.channel === listener, "the UDP listener was closed and bound again")
        #expect(listener.isActive)
        // And it still receives.
        let client = try await RawDatagramClient.bind()
        defer { client.channel.close(promise: nil) }
        try await client.send(request.serialized(), to: server.endpoint(.udp).address)
        #expect(await inbox.next(timeout: .seconds(5)) != nil)
    }
}
