import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import SIPCore

/// The transport layer of RFC 3261 §18: listeners from `--listen` specs, the flow table,
/// sending requests to endpoints (reusing connections, RFC 5923) and responses per §18.2.2.
///
/// Inbound messages go to one `SIPInboundHandler`, called on the channel's event loop.
/// Send methods may be called from anywhere.
public final class SIPTransportLayer: Sendable {
    public let configuration: SIPTransportConfiguration
    public let group: any EventLoopGroup
    let logger: Logger
    let table: SIPConnectionTable
    let serverTLS: NIOSSLContext?
    /// For `mtls:` listeners: the same certificate, a client certificate required.
    let mutualServerTLS: NIOSSLContext?
    let clientTLS: NIOSSLContext?
    let coalescer = SIPWriteCoalescer()
    /// "connection cap reached" lines: a flood of connections must not flood the log too.
    let capNotices = NoticeRateLimit()

    private struct State {
        var shared: SIPTransportShared?
        var listeners: [SIPListener] = []
        var stopped = false
    }
    private let state = NIOLockedValueBox(State())

    /// - Parameters:
    ///   - eventLoopGroup: where sockets live; the shared NIO group by default.
    ///   - logger: metadata keys are dotted (`connection.peer`, `sip.transport`).
    public init(configuration: SIPTransportConfiguration = .init(),
                eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                logger: Logger = Logger(label: "sip.transport")) throws(SIPTransportError) {
        self.configuration = configuration
        self.group = eventLoopGroup
        self.logger = logger
        self.table = SIPConnectionTable(maxConnections: configuration.maxConnections,
                                        maxConnectionsPerIP: configuration.maxConnectionsPerIP)
        self.serverTLS = try configuration.tls?.makeServerContext()
        self.mutualServerTLS = try configuration.tls?.makeServerContext(requiring: true)
        self.clientTLS = try configuration.tls?.makeClientContext()
    }

    /// The bound listeners, in start order.
    public var listeners: [SIPListener] { state.withLockedValue { $0.listeners } }

    /// The bound address of the first listener of a transport (and address family, when given):
    /// what goes into the sent-by of a Via for requests sent over it (RFC 3261 §18.1.1).
    public func localAddress(for transport: SIPTransportKind, family: NIOBSDSocket.ProtocolFamily? = nil) -> SocketAddress? {
        state.withLockedValue { s in
            s.listeners.first { $0.spec.transport == transport && (family == nil || $0.localAddress.protocol == family) }?.localAddress
        }
    }

    /// Open TCP/TLS connections (inbound and outbound).
    public var connectionCount: Int { table.count }
    /// Open TCP/TLS connections by transport, accepted and opened (read when metrics are
    /// scraped, never on the message path).
    public var connectionCounts: [SIPTransportKind: Int] { table.countsByTransport }

    /// Binds one listener per spec and starts delivering inbound messages to `handler`.
    /// Call once; a listener that cannot bind fails the whole start (those bound are closed).
    @discardableResult
    public func start(_ specs: [ListenSpec], handler: some SIPInboundHandler) async throws(SIPTransportError) -> [SIPListener] {
        let shared = SIPTransportShared(handler: handler, table: table, configuration: configuration, logger: logger)
        let fresh = state.withLockedValue { s in
            guard s.shared == nil, !s.stopped else { return false }
            s.shared = shared
            return true
        }
        guard fresh else { throw SIPTransportError(.notRunning, "transport layer already started or stopped") }
        var bound: [SIPListener] = []
        for spec in specs {
            do {
                let listener = try await bind(spec, shared: shared)
                if spec.transport == .udp { keepDatagramSocketOpen(listener, shared: shared) }
                bound.append(listener)
                state.withLockedValue { $0.listeners.append(listener) }
                logger.info("listening \(listener)")
            } catch {
                for listener in bound { try? await listener.channel.close() }
                state.withLockedValue { $0.listeners.removeAll() }
                throw error
            }
        }
        return bound
    }

    private func bind(_ spec: ListenSpec, shared: SIPTransportShared) async throws(SIPTransportError) -> SIPListener {
        let channel: any Channel
        do {
            switch spec.transport {
            case .udp:
                channel = try await makeDatagramBootstrap(shared: shared).bind(host: spec.host, port: spec.port).get()
            case .tcp, .tls:
                if spec.transport == .tls, serverTLS == nil {
                    throw SIPTransportError(.tlsConfiguration, "\(spec): a TLS listener needs a certificate and key")
                }
                channel = try await makeServerBootstrap(spec.transport, shared: shared,
                                                        mutual: spec.requiresClientCertificate)
                    .bind(host: spec.host, port: spec.port).get()
            }
        } catch let error as SIPTransportError {
            throw error
        } catch {
            throw SIPTransportError(.bindFailed, "cannot listen on \(spec): \(error)")
        }
        guard let local = channel.localAddress else {
            try? await channel.close()
            throw SIPTransportError(.bindFailed, "\(spec): no local address after bind")
        }
        return SIPListener(spec: spec, localAddress: local, channel: channel)
    }

    // MARK: Sending

    /// Sends a message to an endpoint: over UDP from a listening socket of the same address
    /// family; over TCP/TLS on the open connection to that transport and address when there is
    /// one (RFC 5923; a contact registered over a flow, RFC 5626 §5.2), else on a new one.
    /// The future completes when the bytes are handed to the socket.
    public func sendFuture(_ message: SIPMessage, to destination: SIPEndpoint) -> EventLoopFuture<Void> {
        let bytes = message.serialized()
        guard let shared = state.withLockedValue({ $0.stopped ? nil : $0.shared }) else {
            return group.next().makeFailedFuture(SIPTransportError(.notRunning, "transport layer not running"))
        }
        switch destination.transport {
        case .udp:
            guard let socket = udpSocket(for: destination.address) else {
                return group.next().makeFailedFuture(SIPTransportError(.noRoute, "no UDP listener for \(destination)"))
            }
            return writeDatagram(bytes, to: destination.address, on: socket)
        case .tcp, .tls:
            if destination.transport == .tls, clientTLS == nil {
                return group.next().makeFailedFuture(SIPTransportError(.noRoute, "no TLS settings for \(destination)"))
            }
            if let channel = flowChannel(for: destination) {
                return writeStream(bytes, on: channel)
            }
            let key = SIPConnectionTable.Key(transport: destination.transport, remote: destination.address)
            switch table.lookup(key, eventLoop: group.any()) {  // the current loop: no hop per message to reach it
            case .open(let channel):
                return writeStream(bytes, on: channel)
            case .opening(let future):
                return future.flatMap { self.writeStream(bytes, on: $0) }
            case .mustOpen(let promise):
                openConnection(to: destination, key: key, shared: shared, promise: promise)
                return promise.futureResult.flatMap { self.writeStream(bytes, on: $0) }
            }
        }
    }

    /// As ``sendFuture(_:to:)``, reporting only a failure, to `onFailure`. Over an open
    /// connection the write joins its pending burst (no future, no extra hop onto the loop).
    public func send(_ message: SIPMessage, to destination: SIPEndpoint,
                     onFailure: @escaping @Sendable (SIPTransportError) -> Void) {
        if destination.transport.isReliable, let channel = openChannel(to: destination) {
            coalescer.write(message.serialized(), on: channel, .onFailure { onFailure(Self.transportError($0)) })
            return
        }
        sendFuture(message, to: destination).whenFailure { onFailure(Self.transportError($0)) }
    }

    /// The open connection a stream message to `destination` would go on, if there is one:
    /// its flow, else the open connection to its transport and address (RFC 5923).
    private func openChannel(to destination: SIPEndpoint) -> (any Channel)? {
        guard state.withLockedValue({ !$0.stopped && $0.shared != nil }) else { return nil }
        if destination.transport == .tls, clientTLS == nil { return nil }
        if let channel = flowChannel(for: destination) { return channel }
        return table.openChannel(for: SIPConnectionTable.Key(transport: destination.transport, remote: destination.address))
    }

    /// The connection `destination.connectionID` names, when it is open and its remote address
    /// is the destination's (RFC 5626 §5.3). A flow that is gone, or an id that now names a
    /// connection to someone else (e.g. one stored before a restart), is not used: the caller
    /// falls back to the connection table by transport and address.
    private func flowChannel(for destination: SIPEndpoint) -> (any Channel)? {
        guard let id = destination.connectionID else { return nil }
        let key = SIPConnectionTable.Key(transport: destination.transport, remote: destination.address)
        if let channel = table.channel(for: id, matching: key) { return channel }
        logger.debug("flow not usable, sending by address", metadata: [
            "connection.id": "\(id.rawValue)", "connection.peer": "\(destination)",
            "connection.flow_peer": "\(table.remote(of: id).map(\.sipHostPort) ?? "gone")"])
        return nil
    }

    /// Whether connection `id` (TCP/TLS) is open. Once it is not, it never is again: a
    /// transaction waiting on it has had a transport error (RFC 3261 §17.1.4).
    public func isConnectionOpen(_ id: SIPConnectionID) -> Bool {
        table.channel(for: id)?.isActive ?? false
    }

    /// RFC 3261 §18.1.1: a request within 200 bytes of the path MTU, or over 1300 bytes when
    /// the MTU is unknown, must go over a congestion-controlled transport (TCP) when the UDP
    /// route was chosen. The caller decides before it writes the Via; this layer never
    /// switches transports by itself.
    public static func shouldUseCongestionControlledTransport(messageSize: Int) -> Bool {
        messageSize > 1300
    }

    /// `sendFuture` for async callers.
    public func send(_ message: SIPMessage, to destination: SIPEndpoint) async throws(SIPTransportError) {
        do {
            try await sendFuture(message, to: destination).get()
        } catch {
            throw Self.transportError(error)
        }
    }

    /// Sends a response to a request per RFC 3261 §18.2.2: over a reliable transport on the
    /// connection the request came in on while it is open, else to the `received` address and
    /// sent-by port of the top Via; over UDP to `received` and the `rport` port (RFC 3581 §4),
    /// else the sent-by port, from the socket the request arrived on.
    public func sendResponseFuture(_ response: SIPResponse, to request: InboundMessage) -> EventLoopFuture<Void> {
        if request.transport.isReliable {
            if request.channel.isActive {
                return writeStream(response.serialized(), on: request.channel)
            }
            guard let via = (try? response.topVia) ?? nil, var destination = ViaProcessing.responseDestination(topVia: via) else {
                return group.next().makeFailedFuture(SIPTransportError(.invalidDestination, "response has no usable top Via"))
            }
            destination.transport = request.transport
            if request.transport == .tls, !ViaProcessing.isNumeric(via.host) { destination.tlsServerName = via.host }
            return sendFuture(.response(response), to: destination)
        }
        let via = (try? response.topVia) ?? nil
        var address = via.flatMap { ViaProcessing.responseDestination(topVia: $0) }?.address ?? request.remote
        if !address.isUsableUnicastDestination(from: request.channel.localAddress) { address = request.remote }  // e.g. a sent-by port of 0
        // The socket it came on, or its replacement if that one was reopened.
        let socket = request.channel.isActive ? request.channel : (udpSocket(for: address) ?? request.channel)
        return writeDatagram(response.serialized(), to: address, on: socket)
    }

    /// As ``sendResponseFuture(_:to:)``, reporting only a failure, to `onFailure` (on an event
    /// loop). Cheaper from off the loop: the write joins the connection's pending burst and the
    /// failure callback is attached on the loop.
    public func sendResponse(_ response: SIPResponse, to request: InboundMessage,
                             onFailure: @escaping @Sendable (SIPTransportError) -> Void) {
        if request.transport.isReliable, request.channel.isActive {
            coalescer.write(response.serialized(), on: request.channel, .onFailure { onFailure(Self.transportError($0)) })
            return
        }
        sendResponseFuture(response, to: request).whenFailure { onFailure(Self.transportError($0)) }
    }

    /// `sendResponseFuture` for async callers.
    public func sendResponse(_ response: SIPResponse, to request: InboundMessage) async throws(SIPTransportError) {
        do {
            try await sendResponseFuture(response, to: request).get()
        } catch {
            throw Self.transportError(error)
        }
    }

    /// Sends an RFC 5626 keepalive towards `destination`: on TCP/TLS a CRLFCRLF ping
    /// (§3.5.1; the peer answers with a CRLF pong, which the decoder skips) on the open
    /// connection, never opening one, so a failure means the flow is gone (§4.4.1); on UDP a
    /// CRLFCRLF datagram, which keeps a NAT binding open (servers drop it as non-SIP).
    public func sendKeepalive(to destination: SIPEndpoint) -> EventLoopFuture<Void> {
        let ping: [UInt8] = [13, 10, 13, 10]
        guard state.withLockedValue({ !$0.stopped && $0.shared != nil }) else {
            return group.next().makeFailedFuture(SIPTransportError(.notRunning, "transport layer not running"))
        }
        if destination.transport == .udp {
            guard let socket = udpSocket(for: destination.address) else {
                return group.next().makeFailedFuture(SIPTransportError(.noRoute, "no UDP listener for \(destination)"))
            }
            return writeDatagram(ping, to: destination.address, on: socket)
        }
        let key = SIPConnectionTable.Key(transport: destination.transport, remote: destination.address)
        let channel = flowChannel(for: destination) ?? table.openChannel(for: key)
        guard let channel, channel.isActive else {
            return group.next().makeFailedFuture(SIPTransportError(.connectionClosed, "no open connection to \(destination)"))
        }
        return writeStream(ping, on: channel)
    }

    /// Closes one connection (e.g. a flow whose registration ended).
    public func closeConnection(_ id: SIPConnectionID) {
        table.channel(for: id)?.close(promise: nil)
    }

    // MARK: Stopping

    /// Closes the TCP/TLS listening sockets: no new connections; open connections and UDP
    /// sockets keep working so in-flight transactions can finish.
    public func stopListening() async {
        let servers = state.withLockedValue { s in s.listeners.filter { $0.spec.transport != .udp } }
        for listener in servers { try? await listener.channel.close() }
    }

    /// Graceful stop: listeners close first, then UDP sockets, then every connection.
    public func shutdown() async {
        await stopListening()
        let udp = state.withLockedValue { s in
            s.stopped = true
            return s.listeners.filter { $0.spec.transport == .udp }
        }
        for listener in udp { try? await listener.channel.close() }
        for channel in table.allChannels { try? await channel.close() }
        state.withLockedValue { $0.listeners.removeAll() }
    }

    // MARK: Internals

    /// NIO closes a UDP socket on some send errors (EINVAL, EACCES, ENETUNREACH: RFC 3261
    /// §18.2.2 lets a peer name any address in its Via). A UDP listener closed while the layer
    /// runs is bound again at the same address, so one bad peer cannot stop UDP service.
    private func keepDatagramSocketOpen(_ listener: SIPListener, shared: SIPTransportShared) {
        listener.channel.closeFuture.whenComplete { _ in
            let current = self.state.withLockedValue { s in
                !s.stopped && s.listeners.contains { $0.channel === listener.channel }
            }
            guard current else { return }
            self.logger.warning("UDP socket closed unexpectedly, binding it again",
                                metadata: ["sip.listener": "\(listener)"])
            self.makeDatagramBootstrap(shared: shared).bind(to: listener.localAddress).whenComplete { result in
                switch result {
                case .success(let channel):
                    let replacement = SIPListener(spec: listener.spec, localAddress: listener.localAddress, channel: channel)
                    let kept = self.state.withLockedValue { s in
                        guard !s.stopped, let i = s.listeners.firstIndex(where: { $0.channel === listener.channel }) else { return false }
                        s.listeners[i] = replacement
                        return true
                    }
                    if kept { self.keepDatagramSocketOpen(replacement, shared: shared) } else { channel.close(promise: nil) }
                case .failure(let error):
                    self.logger.error("cannot bind UDP socket again", metadata: ["sip.listener": "\(listener)", "error": "\(error)"])
                }
            }
        }
    }

    private func udpSocket(for remote: SocketAddress) -> (any Channel)? {
        state.withLockedValue { s in
            s.listeners.first { $0.spec.transport == .udp && $0.localAddress.protocol == remote.protocol && $0.channel.isActive }?.channel
        }
    }

    private func writeDatagram(_ bytes: [UInt8], to address: SocketAddress, on channel: any Channel) -> EventLoopFuture<Void> {
        guard address.isUsableUnicastDestination(from: channel.localAddress) else {
            return channel.eventLoop.makeFailedFuture(SIPTransportError(.invalidDestination, "\(address) is not a unicast destination"))
        }
        guard bytes.count <= 65_507 else {
            return channel.eventLoop.makeFailedFuture(SIPTransportError(.messageTooLarge, "\(bytes.count) bytes do not fit a UDP datagram"))
        }
        let envelope = AddressedEnvelope(remoteAddress: address, data: channel.allocator.buffer(bytes: bytes))
        return channel.writeAndFlush(envelope)
    }

    private func writeStream(_ bytes: [UInt8], on channel: any Channel) -> EventLoopFuture<Void> {
        coalescer.write(bytes, on: channel)
    }

    static func transportError(_ error: any Error) -> SIPTransportError {
        if let error = error as? SIPTransportError { return error }
        if let error = error as? ChannelError, error == .ioOnClosedChannel || error == .alreadyClosed || error == .eof {
            return SIPTransportError(.connectionClosed, "connection closed")
        }
        return SIPTransportError(.connectionClosed, "\(error)")
    }
}
