import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing
@testable import SIPTransport

/// Counts the idle events that reach the end of the pipeline.
private final class IdleEvents: ChannelInboundHandler {
    typealias InboundIn = NIOAny
    var count = 0
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .all { count += 1 }
    }
}

@Suite("Idle connections")
struct IdleHandlerTests {
    private func channel() throws -> (EmbeddedChannel, IdleEvents) {
        let channel = EmbeddedChannel()
        let events = IdleEvents()
        try channel.pipeline.syncOperations.addHandler(SIPIdleHandler(timeout: .seconds(10)))
        try channel.pipeline.syncOperations.addHandler(events)
        try channel.connect(to: SocketAddress(ipAddress: "192.0.2.7", port: 40000)).wait()
        return (channel, events)
    }

    @Test("silence for the timeout reports the connection idle, once")
    func silence() throws {
        let (channel, events) = try channel()
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))
        #expect(events.count == 0)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(events.count == 1)
        channel.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(events.count == 1)
    }

    @Test("a read or a write restarts the clock")
    func trafficCounts() throws {
        let (channel, events) = try channel()
        channel.embeddedEventLoop.advanceTime(by: .seconds(6))
        try channel.writeInbound(ByteBuffer(string: "\r\n\r\n"))
        channel.embeddedEventLoop.advanceTime(by: .seconds(6))  // 12 s in, 6 s after the read
        #expect(events.count == 0)
        try channel.writeOutbound(ByteBuffer(string: "\r\n"))
        channel.embeddedEventLoop.advanceTime(by: .seconds(9))  // 21 s in, 9 s after the write
        #expect(events.count == 0)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(events.count == 1)
    }

    @Test("a closed connection is not reported")
    func closed() throws {
        let (channel, events) = try channel()
        _ = try channel.finish()
        channel.embeddedEventLoop.advanceTime(by: .seconds(30))
        #expect(events.count == 0)
    }
}
