import NIOCore

/// Closes nothing itself: tells the connection handler (with NIO's
/// `IdleStateHandler.IdleStateEvent.all`) that nothing was read or written for the
/// transport's `idleTimeout`, as `IdleStateHandler(allTimeout:)` does, without that handler's
/// promise and callback per write (three allocations per message sent). Activity is a flag
/// that a periodic check clears; the connection is idle once `checksPerTimeout` checks in a
/// row saw none, so it is reported between `timeout` and `timeout` plus one check period
/// after its last read or write.
final class SIPIdleHandler: ChannelDuplexHandler {
    typealias InboundIn = NIOAny
    typealias InboundOut = NIOAny
    typealias OutboundIn = NIOAny
    typealias OutboundOut = NIOAny

    static let checksPerTimeout = 4
    private let period: TimeAmount
    private var active = false
    private var quietChecks = 0
    private var check: Scheduled<Void>?

    init(timeout: TimeAmount) {
        period = .nanoseconds(max(timeout.nanoseconds / Int64(Self.checksPerTimeout), 1_000_000))
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { schedule(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop()
    }

    func channelActive(context: ChannelHandlerContext) {
        schedule(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        active = true
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        active = true
        context.write(data, promise: promise)
    }

    private func schedule(_ context: ChannelHandlerContext) {
        guard check == nil else { return }
        check = context.eventLoop.assumeIsolated().scheduleTask(in: period) { [self] in
            check = nil
            guard context.channel.isActive else { return }
            if active {
                active = false
                quietChecks = 0
            } else {
                quietChecks += 1
            }
            if quietChecks >= Self.checksPerTimeout {
                quietChecks = 0
                context.fireUserInboundEventTriggered(IdleStateHandler.IdleStateEvent.all)
            }
            schedule(context)
        }
    }

    private func stop() {
        check?.cancel()
        check = nil
    }
}
