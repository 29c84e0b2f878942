import NIOCore
import NIOPosix
import NIOSSL

/// Collects what a raw test socket receives; the stream finishes when the channel closes.
final class TextCollector: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let text: AsyncStream<String>
    private let sink: AsyncStream<String>.Continuation

    init() { (text, sink) = AsyncStream.makeStream() }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        sink.yield(String(buffer: unwrapInboundIn(data)))
    }

    func channelInactive(context: ChannelHandlerContext) {
        sink.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// A bare TCP or TLS client that is not the transport under test.
struct RawStreamClient {
    let channel: any Channel
    let collector: TextCollector

    static func connect(to address: SocketAddress, tls: TLSConfiguration? = nil, serverHostname: String? = nil,
                        autoRead: Bool = true) async throws -> RawStreamClient {
        let collector = TextCollector()
        let sslContext = try tls.map { try NIOSSLContext(configuration: $0) }
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.autoRead, value: autoRead)
            .channelOption(.socketOption(.so_rcvbuf), value: autoRead ? 65536 : 4096)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: sslContext, serverHostname: serverHostname))
                    }
                    try channel.pipeline.syncOperations.addHandler(collector)
                }
            }
            .connect(to: address).get()
        return RawStreamClient(channel: channel, collector: collector)
    }

    func send(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(channel.allocator.buffer(bytes: bytes))
    }

    /// Everything received until the text satisfies `done` or the connection closes.
    func read(until done: @escaping @Sendable (String) -> Bool, timeout: Duration = .seconds(20)) async -> String {
        let stream = collector.text
        return await withTimeout(timeout) {
            var all = ""
            for await chunk in stream {
                all += chunk
                if done(all) { break }
            }
            return all
        } ?? ""
    }

    /// Whether the server closes the connection within the timeout (reading whatever comes).
    func closedByPeer(timeout: Duration = .seconds(20)) async -> (closed: Bool, text: String) {
        let stream = collector.text
        let result: String? = await withTimeout(timeout) {
            var all = ""
            for await chunk in stream { all += chunk }
            return all
        }
        return (result != nil, result ?? "")
    }
}

/// A bare UDP socket on 127.0.0.1.
struct RawDatagramClient {
    final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        let text: AsyncStream<String>
        private let sink: AsyncStream<String>.Continuation
        init() { (text, sink) = AsyncStream.makeStream() }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            sink.yield(String(buffer: unwrapInboundIn(data).data))
        }
    }

    let channel: any Channel
    let collector: Collector
    var port: Int { channel.localAddress!.port! }

    static func bind() async throws -> RawDatagramClient {
        let collector = Collector()
        let channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { $0.pipeline.addHandler(collector) }
            .bind(host: "127.0.0.1", port: 0).get()
        return RawDatagramClient(channel: channel, collector: collector)
    }

    func send(_ bytes: [UInt8], to address: SocketAddress) async throws {
        try await channel.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: channel.allocator.buffer(bytes: bytes)))
    }

    func next(timeout: Duration = .seconds(20)) async -> String? {
        let stream = collector.text
        return await withTimeout(timeout) {
            var it = stream.makeAsyncIterator()
            return await it.next()
        } ?? nil
    }
}
