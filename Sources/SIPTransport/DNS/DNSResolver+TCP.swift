import NIOCore
import NIOPosix

/// DNS over TCP after a truncated UDP answer (RFC 1035 §4.2.2, RFC 7766): one connection per
/// retried question, the message framed by a two-byte length, closed after the answer or
/// the resolver's timeout.
extension DNSResolver {
    func retryOverTCP(_ question: DNSQuestion, server: SocketAddress, attempt: Int, truncated: DNSMessage) {
        let id = UInt16.random(in: .min ... .max)
        let query: [UInt8]
        do {
            query = try DNSWire.query(id: id, question: question, edns: false)
        } catch {
            tcpFailed(question, truncated: truncated, server: server, attempt: attempt, error: error)
            return
        }
        let loop = eventLoop
        let promise = loop.makePromise(of: [UInt8].self)
        let timeout = configuration.timeout
        let connect = ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(DNSTCPFrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(DNSTCPResponseHandler(promise: promise))
                }
            }
            .connect(to: server)
        connect.whenComplete { result in
            switch result {
            case .success(let channel):
                var framed = channel.allocator.buffer(capacity: query.count + 2)
                framed.writeInteger(UInt16(query.count))
                framed.writeBytes(query)
                channel.writeAndFlush(framed, promise: nil)
                let deadline = loop.scheduleTask(in: timeout) { channel.close(promise: nil) }
                promise.futureResult.whenComplete { _ in
                    deadline.cancel()
                    channel.close(promise: nil)
                }
            case .failure(let error):
                promise.fail(error)  // a no-op if the handler already failed it on removal
            }
        }
        promise.futureResult.whenComplete { [self] result in
            switch result {
            case .success(let bytes):
                guard let message = try? DNSWire.parse(bytes), message.isResponse, message.id == id,
                      message.questions == [question] else {
                    tcpFailed(question, truncated: truncated, server: server, attempt: attempt,
                              error: SIPTransportError(.dnsMalformed, "unexpected answer over TCP"))
                    return
                }
                handle(message, question: question, server: server, attempt: attempt)
            case .failure(let error):
                tcpFailed(question, truncated: truncated, server: server, attempt: attempt, error: error)
            }
        }
    }
}

/// Frames DNS messages on a stream: a two-byte length, then the message (RFC 1035 §4.2.2).
struct DNSTCPFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self),
              buffer.readableBytes >= 2 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 2)
        context.fireChannelRead(NIOAny(buffer.readSlice(length: Int(length))!))
        return .continue
    }
}

/// Completes the exchange's promise with the first message, or with an error when the
/// connection ends first (closed, reset, timed out).
private final class DNSTCPResponseHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let promise: EventLoopPromise<[UInt8]>
    private var done = false

    init(promise: EventLoopPromise<[UInt8]>) {
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        done = true
        promise.succeed(Array(unwrapInboundIn(data).readableBytesView))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        guard !done else { return }
        done = true
        promise.fail(SIPTransportError(.dnsFailure, "DNS TCP connection closed without an answer"))
    }
}
