import NIOCore
import SIPCore
import SIPTransport
import Synchronization

/// Makes SIPTransport's `SIPTransportLayer` the transaction layer's transport: listeners
/// from `ListenSpec`s, requests to numeric destinations (RFC 3263 resolution is the
/// caller's), responses per RFC 3261 §18.2.2 over the connection/socket the request came
/// in on.
public final class SIPTransportAdapter: SIPServerTransport {
    public let transportLayer: SIPTransportLayer
    let specs: [ListenSpec]
    /// The host put in our Via sent-by and recognised as "us"; the listener's address if nil.
    let advertisedHost: String?
    private let bound = Mutex<[SIPListener]?>(nil)
    /// Our Via sent-by per transport, worked out once (the listeners do not move).
    private let sentByCache = Mutex<[SIPTransportKind: SIPHostPort]>([:])
    private let sink = InboundSink()
    private let stopped = AsyncStream<Void>.makeStream()

    public init(transportLayer: SIPTransportLayer, listen specs: [ListenSpec], advertisedHost: String? = nil) {
        self.transportLayer = transportLayer
        self.specs = specs
        self.advertisedHost = advertisedHost
    }

    /// Binds the listeners (once) and returns them (read bound ports from them). Messages
    /// that arrive before ``runInline(deliver:)`` wait in a small bounded buffer.
    @discardableResult
    public func start() async throws(SIPTransportError) -> [SIPListener] {
        if let listeners = bound.withLock({ $0 }) { return listeners }
        let listeners = try await transportLayer.start(specs, handler: sink)
        bound.withLock { $0 = listeners }
        return listeners
    }

    public var listeners: [SIPListener] { bound.withLock { $0 } ?? [] }

    public func runInline(deliver: @escaping @Sendable (SIPMessage, SIPMessageSource) -> Void) async throws {
        try await start()
        sink.startDelivering { message in deliver(message.message, Self.source(of: message)) }
        for await _ in stopped.stream {}
    }

    public func run(deliver: @escaping @Sendable (SIPMessage, SIPMessageSource) async -> Void) async throws {
        let (stream, continuation) = AsyncStream.makeStream(of: (SIPMessage, SIPMessageSource).self,
                                                            bufferingPolicy: .bufferingOldest(4096))
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                try await self.runInline { message, source in continuation.yield((message, source)) }
                continuation.finish()
            }
            for await (message, source) in stream { await deliver(message, source) }
        }
    }

    public func onConnectionClosed(_ body: @escaping @Sendable (UInt64) -> Void) {
        sink.setCloseHandler(body)
    }

    public var timerScheduler: (any TransactionTimerScheduler)? {
        EventLoopTimerScheduler(loop: transportLayer.group.next())
    }

    public func stopListening() async {
        await transportLayer.stopListening()
    }

    public func shutdown() async {
        await transportLayer.shutdown()
        sink.close()
        stopped.continuation.finish()
    }

    public var localHosts: Set<String> {
        var hosts: Set<String> = ["localhost"]
        if let advertisedHost { hosts.insert(advertisedHost.lowercased()) }
        for listener in listeners {
            if let ip = listener.localAddress.ipAddress { hosts.insert(ip); hosts.insert("[\(ip)]") }
        }
        return hosts
    }

    static func source(of message: InboundMessage) -> SIPMessageSource {
        SIPMessageSource(transport: message.transport,
                         remote: SIPHostPort(host: message.remoteIP, port: message.remote.port ?? 0),
                         local: SIPHostPort(host: message.localIP, port: message.local.port ?? 0),
                         flowID: message.connectionID.rawValue,
                         transportContext: message)
    }

    public func send(_ request: SIPRequest, to destination: SIPDestination,
                     onFailure: @escaping @Sendable (SIPTransactionError) -> Void) {
        let endpoint: SIPEndpoint
        do {
            let flow = destination.flowID.map(SIPConnectionID.init(rawValue:))
            if let flow, let flowAddress = destination.flowAddress, transportLayer.isConnectionOpen(flow) {
                // RFC 5626 §5.3: over the flow, which the transport uses only if it still
                // leads to the address the registration came from.
                endpoint = try SIPEndpoint(transport: destination.transport, ip: flowAddress.host, port: flowAddress.port,
                                           tlsServerName: destination.tlsServerName, connectionID: flow)
            } else {
                endpoint = try SIPEndpoint(transport: destination.transport, ip: destination.address.host,
                                           port: destination.address.port, tlsServerName: destination.tlsServerName,
                                           connectionID: destination.flowAddress == nil ? flow : nil)
            }
        } catch {
            onFailure(SIPTransactionError(.transportError, "\(error)", status: 503))
            return
        }
        transportLayer.send(.request(request), to: endpoint) { error in
            onFailure(SIPTransactionError(.transportError, "\(error)", status: 503))
        }
    }

    public func send(_ response: SIPResponse, replyingTo source: SIPMessageSource,
                     onFailure: @escaping @Sendable (SIPTransactionError) -> Void) {
        let future: EventLoopFuture<Void>
        if let request = source.transportContext as? InboundMessage {
            transportLayer.sendResponse(response, to: request) { error in
                onFailure(SIPTransactionError(.transportError, "\(error)"))
            }
            return
        } else {
            do {
                let endpoint = try SIPEndpoint(transport: source.transport, ip: source.remote.host, port: source.remote.port,
                                               connectionID: source.flowID.map(SIPConnectionID.init(rawValue:)))
                future = transportLayer.sendFuture(.response(response), to: endpoint)
            } catch {
                onFailure(SIPTransactionError(.transportError, "\(error)"))
                return
            }
        }
        future.whenFailure { error in onFailure(SIPTransactionError(.transportError, "\(error)")) }
    }

    public func sentBy(for destination: SIPDestination) -> SIPHostPort {
        if let known = sentByCache.withLock({ $0[destination.transport] }) { return known }
        let listener = transportLayer.localAddress(for: destination.transport)
        let local = listener ?? listeners.first?.localAddress
        let host = advertisedHost ?? local?.ipAddress ?? "127.0.0.1"
        let sentBy = SIPHostPort(host: host, port: local?.port ?? destination.transport.defaultPort)
        if listener != nil { sentByCache.withLock { $0[destination.transport] = sentBy } }
        return sentBy
    }
}

/// Timers as NIO scheduled tasks on one event loop.
struct EventLoopTimerScheduler: TransactionTimerScheduler {
    let loop: any EventLoop
    func schedule(after delay: Duration, _ body: @escaping @Sendable () -> Void) {
        let nanoseconds = delay.components.seconds * 1_000_000_000 + delay.components.attoseconds / 1_000_000_000
        loop.scheduleTask(in: .nanoseconds(max(nanoseconds, 0))) { body() }
    }
}

/// The transport's upward handler: hands each message to the deliverer on the event loop
/// that read it; before delivery starts, up to `capacity` messages wait (the rest are
/// dropped: UDP retransmits, and a TCP peer this early is a client racing the start-up).
final class InboundSink: SIPInboundHandler {
    private enum Mode {
        case buffering([InboundMessage])
        case delivering(@Sendable (InboundMessage) -> Void)
        case closed
    }
    private let mode = Mutex<Mode>(.buffering([]))
    private let closeHandler = Mutex<(@Sendable (UInt64) -> Void)?>(nil)
    let capacity = 1024

    func transportDidReceive(_ inbound: InboundMessage) {
        let deliver: (@Sendable (InboundMessage) -> Void)? = mode.withLock { mode in
            switch mode {
            case .delivering(let deliver):
                return deliver
            case .buffering(var queue):
                if queue.count < capacity { queue.append(inbound) }
                mode = .buffering(queue)
                return nil
            case .closed:
                return nil
            }
        }
        deliver?(inbound)
    }

    func transportConnectionDidClose(_ id: SIPConnectionID) {
        closeHandler.withLock { $0 }?(id.rawValue)
    }

    func setCloseHandler(_ body: @escaping @Sendable (UInt64) -> Void) {
        closeHandler.withLock { $0 = body }
    }

    func startDelivering(_ deliver: @escaping @Sendable (InboundMessage) -> Void) {
        let queued: [InboundMessage] = mode.withLock { mode in
            guard case .buffering(let queue) = mode else { return [] }
            mode = .delivering(deliver)
            return queue
        }
        for message in queued { deliver(message) }
    }

    func close() {
        mode.withLock { $0 = .closed }
    }
}
