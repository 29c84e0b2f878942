import NIOCore

/// Reports an idle stream connection: when nothing was read from it or written to it
/// for `timeout`, it fires `IdleStateHandler.IdleStateEvent.all` (the stream handler closes).
///
/// NIO's `IdleStateHandler` does the same, but it times a write by its completion, which costs
/// a promise, a callback and a hop on every write. This one notes when a write is handed down
/// and when bytes are read (a clock read each) and looks only when the timer is due, so the
/// hot path allocates nothing.
final class SIPIdleHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    typealias InboundOut = NIOAny
    typealias OutboundIn = NIOAny
    typealias OutboundOut = NIOAny

    private let timeout: TimeAmount
    private var lastActivity = NIODeadline.uptimeNanoseconds(0)
    private var check: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastActivity = context.eventLoop.now
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        lastActivity = context.eventLoop.now
        context.write(data, promise: promise)
    }

    private func start(context: ChannelHandlerContext) {
        guard check == nil else { return }
        lastActivity = context.eventLoop.now
        arm(context: context, at: lastActivity + timeout)
    }

    private func stop() {
        check?.cancel()
        check = nil
    }

    private func arm(context: ChannelHandlerContext, at deadline: NIODeadline) {
        check = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            let due = lastActivity + timeout
            if due <= context.eventLoop.now {
                check = nil
                context.fireUserInboundEventTriggered(IdleStateHandler.IdleStateEvent.all)
            } else {
                arm(context: context, at: due)
            }
        }
    }
}
