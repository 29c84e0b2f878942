import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing
@testable import SIPTransport

/// Writes to a connection are queued and flushed once per turn of its event loop, whether
/// they are made on the loop (a PUBLISH's NOTIFYs, MESSAGEs relayed to another connection)
/// or off it (answers after a group commit), in the order of the calls.
@Suite struct WriteCoalescerTests {
    final class FlushCounter: ChannelOutboundHandler, @unchecked Sendable {
        typealias OutboundIn = ByteBuffer
        var flushes = 0
        func flush(context: ChannelHandlerContext) {
            flushes += 1
            context.flush()
        }
    }

    @Test func writesOnTheLoopAreFlushedOnceAfterTheTurnInOrder() throws {
        let counter = FlushCounter()
        let channel = EmbeddedChannel(handler: counter)
        let coalescer = SIPWriteCoalescer()
        for n in 1...3 { coalescer.write(Array("message \(n)\r\n".utf8), on: channel, .onFailure { _ in }) }
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)  // nothing written during the turn
        #expect(counter.flushes == 0)
        channel.embeddedEventLoop.run()  // the loop's task: write all, flush once
        #expect(counter.flushes == 1)
        var written: [String] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { written.append(String(buffer: buffer)) }
        #expect(written == ["message 1\r\n", "message 2\r\n", "message 3\r\n"])
        // The next burst schedules its own flush.
        coalescer.write(Array("message 4\r\n".utf8), on: channel, .onFailure { _ in })
        channel.embeddedEventLoop.run()
        #expect(counter.flushes == 2)
        _ = try channel.finish()
    }

    @Test func aWriteToAClosedChannelReportsTheFailure() throws {
        let channel = EmbeddedChannel()
        let coalescer = SIPWriteCoalescer()
        try channel.close().wait()
        let failed = NIOLockedValueBox(false)
        coalescer.write(Array("late\r\n".utf8), on: channel, .onFailure { _ in failed.withLockedValue { $0 = true } })
        channel.embeddedEventLoop.run()
        #expect(failed.withLockedValue { $0 })
    }

    /// A batch's writes that only hear of failures share one promise: every one of them is
    /// told, and a write with a promise of its own keeps it.
    @Test func aFailedBatchIsReportedToEveryWrite() throws {
        let channel = EmbeddedChannel()
        let coalescer = SIPWriteCoalescer()
        try channel.close().wait()
        let failures = NIOLockedValueBox<[Int]>([])
        for n in 1...3 {
            coalescer.write(Array("m\(n)\r\n".utf8), on: channel, .onFailure { _ in failures.withLockedValue { $0.append(n) } })
        }
        let own = coalescer.write(Array("mine\r\n".utf8), on: channel)
        channel.embeddedEventLoop.run()
        #expect(failures.withLockedValue { $0.sorted() } == [1, 2, 3])
        #expect(throws: (any Error).self) { try own.wait() }
    }
}
