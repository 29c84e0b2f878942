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
    private let inbound = InboundMailbox()

    public init(transportLayer: SIPTransportLayer, listen specs: [ListenSpec], advertisedHost: String? = nil) {
        self.transportLayer = transportLayer
        self.specs = specs
        self.advertisedHost = advertisedHost
    }

    /// Binds the listeners (once) and returns them (read bound ports from them).
    @discardableResult
    public func start() async throws(SIPTransportError) -> [SIPListener] {
        if let listeners = bound.withLock({ $0 }) { return listeners }
        let mailbox = inbound
        let listeners = try await transportLayer.start(specs, handler: SIPInboundClosure { mailbox.post($0) })
        bound.withLock { $0 = listeners }
        return listeners
    }

    public var listeners: [SIPListener] { bound.withLock { $0 } ?? [] }

    public func run(deliver: @escaping @Sendable (SIPMessage, SIPMessageSource) async -> Void) async throws {
        try await start()
        while true {
            let batch = await inbound.next()
            if batch.isEmpty { return }
            for message in batch { await deliver(message.message, Self.source(of: message)) }
        }
    }

    public func runBatches(deliver: @escaping @Sendable ([(SIPMessage, SIPMessageSource)]) async -> Void) async throws {
        try await start()
        while true {
            let batch = await inbound.next()
            if batch.isEmpty { return }
            await deliver(batch.map { ($0.message, Self.source(of: $0)) })
        }
    }

    public func stopListening() async {
        await transportLayer.stopListening()
    }

    public func shutdown() async {
        await transportLayer.shutdown()
        inbound.finish()
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
        SIPMessageSource(transport: message.transport, remote: hostPort(message.remote),
                         local: hostPort(message.local), flowID: message.connectionID.rawValue,
                         transportContext: message)
    }

    static func hostPort(_ address: SocketAddress) -> SIPHostPort {
        SIPHostPort(host: address.ipAddress ?? "?", port: address.port ?? 0)
    }

    public func send(_ request: SIPRequest, to destination: SIPDestination,
                     onFailure: @escaping @Sendable (SIPTransactionError) -> Void) {
        let endpoint: SIPEndpoint
        do {
            endpoint = try SIPEndpoint(transport: destination.transport, ip: destination.address.host,
                                       port: destination.address.port, tlsServerName: destination.tlsServerName,
                                       connectionID: destination.flowID.map(SIPConnectionID.init(rawValue:)))
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
        let local = transportLayer.localAddress(for: destination.transport) ?? listeners.first?.localAddress
        let host = advertisedHost ?? local?.ipAddress ?? "127.0.0.1"
        return SIPHostPort(host: host, port: local?.port ?? destination.transport.defaultPort)
    }
}
