import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SIPCore
import Testing

/// A TCP client as a test peer: raw text out, everything received kept as text.
final class RawTCPPeer: Sendable {
    let channel: any Channel
    private let received: NIOLockedValueBox<String>

    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let received: NIOLockedValueBox<String>
        init(_ received: NIOLockedValueBox<String>) { self.received = received }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let text = String(buffer: unwrapInboundIn(data))
            received.withLockedValue { $0 += text }
        }
    }

    init(port: Int) async throws {
        let received = NIOLockedValueBox("")
        self.received = received
        channel = try await ClientBootstrap(group: testEventLoops)
            .channelInitializer { $0.pipeline.addHandler(Collector(received)) }
            .connect(host: "127.0.0.1", port: port).get()
    }

    var localPort: Int { channel.localAddress?.port ?? 0 }
    var text: String { received.withLockedValue { $0 } }

    func send(_ text: String) async throws {
        var wire = text.replacing("\r\n", with: "\n").replacing("\n", with: "\r\n")
        if let range = wire.firstRange(of: "\r\n\r\n") {
            wire = wire.replacing("Content-Length: *", with: "Content-Length: \(wire[range.upperBound...].utf8.count)")
        }
        try await channel.writeAndFlush(channel.allocator.buffer(string: wire)).get()
    }

    /// Waits until the received text contains `needle` (or 10 s pass).
    func waitFor(_ needle: String) async -> Bool {
        for _ in 0..<1000 {
            if text.contains(needle) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    func close() async { try? await channel.close() }
}

/// RFC 5626 / RFC 5923: a request to a user registered over TCP goes back over the
/// registration's connection, even when the Contact names another address (NAT, a client
/// that cannot take connections); the flow is identified by its id *and* the address it
/// came from, so a stale id cannot lead to someone else.
@Suite(.serialized) struct FlowReuseTests {
    @Test func messageReachesAClientOverItsRegistrationConnection() async throws {
        let server = try await RunningHomeServer.start(auth: false, users: [("alice", "a", true), ("bob", "b", true)])
        let bob = try await RawTCPPeer(port: server.tcpPort)
        // The Contact names an address nobody listens on: only the flow reaches bob.
        try await bob.send("""
        REGISTER sip:\(server.domain) SIP/2.0
        Via: SIP/2.0/TCP 10.9.9.9:5060;branch=z9hG4bK-flow-reg
        Max-Forwards: 70
        From: <sip:bob@\(server.domain)>;tag=b1
        To: <sip:bob@\(server.domain)>
        Call-ID: flow-reg
        CSeq: 1 REGISTER
        Contact: <sip:bob@10.9.9.9:5060;transport=tcp>
        Expires: 600
        Content-Length: 0


        """)
        #expect(await bob.waitFor("SIP/2.0 200"))
        let alice = try await TestUA(group: testEventLoops)
        try await alice.send(SIPText.message(from: "alice", to: "bob", domain: server.domain, uaPort: alice.port, cseq: 1,
                                             callID: "flow-im", body: "over your flow"), to: server.udpPort)
        #expect(await bob.waitFor("over your flow"), "the MESSAGE did not come back over bob's connection")
        await alice.close()
        await bob.close()
        try await server.stop()
    }
}
