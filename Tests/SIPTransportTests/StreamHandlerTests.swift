import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import SIPCore
import Testing
@testable import SIPTransport

/// An EmbeddedChannel with the stream pipeline of a TCP connection from 192.0.2.7:40000.
/// Collects synchronously (EmbeddedChannel tests stay on one thread).
final class SyncInbox: SIPInboundHandler {
    let received = NIOLockedValueBox<[InboundMessage]>([])
    let closed = NIOLockedValueBox<[SIPConnectionID]>([])
    func transportDidReceive(_ inbound: InboundMessage) { received.withLockedValue { $0.append(inbound) } }
    func transportConnectionDidClose(_ id: SIPConnectionID) { closed.withLockedValue { $0.append(id) } }
    var messages: [InboundMessage] { received.withLockedValue { $0 } }
    var closedConnections: [SIPConnectionID] { closed.withLockedValue { $0 } }
}

func makeStreamChannel(inbox: some SIPInboundHandler, configuration: SIPTransportConfiguration = .init(),
                       inbound: Bool = true) throws -> EmbeddedChannel {
    let channel = EmbeddedChannel()
    channel.remoteAddress = try SocketAddress(ipAddress: "192.0.2.7", port: 40000)
    channel.localAddress = try SocketAddress(ipAddress: "192.0.2.1", port: 5060)
    let shared = SIPTransportShared(handler: inbox, table: SIPConnectionTable(maxConnections: 10, maxConnectionsPerIP: 10),
                                    configuration: configuration, logger: Logger(label: "test"))
    let progress = SIPStreamProgress()
    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(SIPStreamDecoder(progress: progress)))
    try channel.pipeline.syncOperations.addHandler(SIPStreamHandler(kind: .tcp, id: SIPConnectionID(rawValue: 1), shared: shared,
                                                                    inbound: inbound, progress: progress))
    try channel.connect(to: channel.remoteAddress!).wait()
    return channel
}

func outboundText(_ channel: EmbeddedChannel) throws -> String {
    var text = ""
    while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
    return text
}

@Suite("Stream connection handler")
struct StreamHandlerTests {
    @Test("a ping is answered with a CRLF pong; a pong is not answered")
    func pingPong() throws {
        let channel = try makeStreamChannel(inbox: SyncInbox())
        try channel.writeInbound(ByteBuffer(string: "\r\n\r\n"))
        #expect(try outboundText(channel) == "\r\n")
        try channel.writeInbound(ByteBuffer(string: "\r\n"))
        try channel.writeInbound(ByteBuffer(string: "O"))  // the pong is settled once a message starts
        #expect(try outboundText(channel) == "")
        #expect(channel.isActive)
    }

    @Test("requests are delivered with received/rport stamped on the top Via (RFC 3261 §18.2.1, RFC 3581)")
    func delivery() throws {
        let inbox = SyncInbox()
        let channel = try makeStreamChannel(inbox: inbox)
        try channel.writeInbound(ByteBuffer(bytes: Sample.options(via: "TCP client.example.com:5070;rport")))
        let inbound = try #require(inbox.messages.first)
        let via = try #require(try Sample.request(inbound.message)?.topVia)
        #expect(via.received == "192.0.2.7")
        #expect(via.rport == .some(40000))
        #expect(inbound.transport == .tcp)
        #expect(inbound.remote == channel.remoteAddress)
        #expect(inbound.connectionID == SIPConnectionID(rawValue: 1))
    }

    @Test("no received when the sent-by is the source address and rport is absent")
    func noReceived() throws {
        let inbox = SyncInbox()
        let channel = try makeStreamChannel(inbox: inbox)
        try channel.writeInbound(ByteBuffer(bytes: Sample.options(via: "TCP 192.0.2.7:5070")))
        let inbound = try #require(inbox.messages.first)
        let via = try #require(try Sample.request(inbound.message)?.topVia)
        #expect(via.received == nil)
        #expect(via.rport == nil)
    }

    @Test("bad framing answers 400 and closes; nothing after it is delivered", arguments: ["rfc4475/ncl.dat", "rfc4475/mcl01.dat"])
    func badFramingCloses(name: String) throws {
        let inbox = SyncInbox()
        let channel = try makeStreamChannel(inbox: inbox)
        let bytes = try Fixtures.bytes(name) + Sample.options(via: "TCP 192.0.2.7:5070", callID: "after")
        for byte in bytes {
            guard channel.isActive else { break }
            try channel.writeInbound(ByteBuffer(bytes: [byte]))
        }
        channel.embeddedEventLoop.run()
        let out = try outboundText(channel)
        #expect(out.hasPrefix("SIP/2.0 400 "), "got \(out)")
        #expect(!channel.isActive)
        #expect(inbox.messages.isEmpty)
    }

    @Test("a write while the peer is not reading closes the connection (back-pressure)")
    func backpressure() throws {
        let channel = try makeStreamChannel(inbox: SyncInbox())
        channel.isWritable = false
        let future = channel.writeAndFlush(ByteBuffer(string: "SIP/2.0 200 OK\r\n\r\n"))
        channel.embeddedEventLoop.run()
        #expect(throws: SIPTransportError.self) { try future.wait() }
        #expect(!channel.isActive)
    }

    @Test("an idle connection is closed")
    func idle() throws {
        let channel = try makeStreamChannel(inbox: SyncInbox())
        channel.pipeline.fireUserInboundEventTriggered(IdleStateHandler.IdleStateEvent.all)
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
    }
}
