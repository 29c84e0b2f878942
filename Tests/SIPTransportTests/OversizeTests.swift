import NIOCore
import NIOEmbedded
import SIPCore
import Testing
@testable import SIPTransport

/// Oversized messages (RFC 3261 §21.4.11 413, §18.3): answered or the connection closed,
/// never buffered whole.
@Suite("Oversized messages")
struct OversizeTests {
    static func head(contentLength: Int) -> [UInt8] {
        let text = "MESSAGE sip:bob@127.0.0.1 SIP/2.0\r\n"
            + "Via: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bK-big\r\n"
            + "Max-Forwards: 70\r\n"
            + "From: <sip:alice@example.com>;tag=a1\r\n"
            + "To: <sip:bob@127.0.0.1>\r\n"
            + "Call-ID: big-1\r\n"
            + "CSeq: 1 MESSAGE\r\n"
            + "Content-Type: text/plain\r\n"
            + "Content-Length: \(contentLength)\r\n\r\n"
        return Array(text.utf8)
    }

    @Test("TCP: a Content-Length of 10 MB is answered 413 and the connection closed before the body")
    func announcedTenMegabytes() async throws {
        let (server, inbox) = try await startLayer(["tcp:127.0.0.1:0"])
        defer { Task { await server.shutdown() } }
        let client = try await RawStreamClient.connect(to: server.endpoint(.tcp).address)
        defer { client.channel.close(promise: nil) }
        try await client.send(Self.head(contentLength: 10_000_000) + Array(repeating: UInt8(ascii: "x"), count: 100_000))
        let result = await client.closedByPeer()
        #expect(result.closed)
        #expect(result.text.hasPrefix("SIP/2.0 413 "), "got \(result.text.prefix(80))")
        #expect(await inbox.next(timeout: .milliseconds(200)) == nil)
    }

    @Test("TCP: a header section of 100 KB with no end closes the connection")
    func endlessHeaders() async throws {
        let (server, inbox) = try await startLayer(["tcp:127.0.0.1:0"])
        defer { Task { await server.shutdown() } }
        let client = try await RawStreamClient.connect(to: server.endpoint(.tcp).address)
        defer { client.channel.close(promise: nil) }
        var bytes = Array(Self.head(contentLength: 0).dropLast(2))
        while bytes.count < 100_000 { bytes += Array("X-Padding: \(String(repeating: "p", count: 80))\r\n".utf8) }
        try? await client.send(bytes)
        #expect(await client.closedByPeer().closed)
        #expect(await inbox.next(timeout: .milliseconds(200)) == nil)
    }

    @Test("the decoder gives up on an endless header section once it passes the limit, not at its end")
    func decoderStopsAtLimit() throws {
        let limits = SIPParseLimits(maxMessageSize: 8192)
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(SIPStreamDecoder(limits: limits)))
        var line = Array("X-Padding: \(String(repeating: "p", count: 100))\r\n".utf8)
        line = Array("OPTIONS sip:a@b SIP/2.0\r\n".utf8) + line
        var fed = 0
        var frame: SIPStreamFrame?
        while fed < 100_000, frame == nil {
            try channel.writeInbound(channel.allocator.buffer(bytes: line))
            fed += line.count
            frame = try channel.readInbound(as: SIPStreamFrame.self)
        }
        guard case .error(let error, _, _, let fatal)? = frame else {
            Issue.record("expected a framing error, got \(String(describing: frame))")
            return
        }
        #expect(fatal)
        #expect(error.status == 413)
        #expect(fed <= limits.maxMessageSize + 2 * line.count)
    }

    @Test("UDP: a datagram over the size limit is answered 413")
    func oversizedDatagram() async throws {
        var config = SIPTransportConfiguration()
        config.parseLimits.maxMessageSize = 2000
        let (server, inbox) = try await startLayer(["udp:127.0.0.1:0"], configuration: config)
        defer { Task { await server.shutdown() } }
        let client = try await RawDatagramClient.bind()
        defer { client.channel.close(promise: nil) }
        let body = String(repeating: "x", count: 5000)
        try await client.send(Sample.options(via: "UDP 127.0.0.1:\(client.port)", body: body), to: server.endpoint(.udp).address)
        let answer = try #require(await client.next(timeout: .seconds(10)))
        #expect(answer.hasPrefix("SIP/2.0 413 "), "got \(answer.prefix(80))")
        #expect(await inbox.next(timeout: .milliseconds(200)) == nil)
    }
}
