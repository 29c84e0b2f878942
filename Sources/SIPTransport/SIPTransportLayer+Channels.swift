import Logging
import NIOCore
import NIOPosix
import NIOSSL
import SIPCore

/// Channel pipelines: UDP sockets, accepted and outbound TCP/TLS connections.
extension SIPTransportLayer {
    func makeDatagramBootstrap(shared: SIPTransportShared) -> DatagramBootstrap {
        let id = table.makeID()
        return DatagramBootstrap(group: group)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            // Whole datagrams up to the UDP maximum, never truncated at the default 2 KiB.
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 65_536))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(SIPDatagramHandler(id: id, shared: shared))
                }
            }
    }

    func makeServerBootstrap(_ kind: SIPTransportKind, shared: SIPTransportShared, mutual: Bool = false) -> ServerBootstrap {
        let cap = configuration.maxBufferedOutboundBytes
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 512)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: cap / 2, high: cap))
            .childChannelInitializer { channel in
                guard let remote = channel.remoteAddress else {
                    return channel.eventLoop.makeFailedFuture(SIPTransportError(.connectionClosed, "accepted socket has no peer"))
                }
                guard self.table.admit(remote: remote, evictingSilent: true) else {
                    if let left = self.capNotices.admit() {
                        shared.logger.notice("connection cap reached, refusing",
                                             metadata: ["connection.peer": "\(remote.sipHostPort)", "sip.refusals_not_logged": "\(left)"])
                    }
                    return channel.eventLoop.makeFailedFuture(SIPTransportError(.connectionLimit, "connection cap reached for \(remote.sipHostPort)"))
                }
                let id = self.table.makeID()
                self.table.markSilent(id, channel: channel)
                self.track(channel, id: id, kind: kind, remote: remote, shared: shared)
                return channel.eventLoop.makeCompletedFuture {
                    try self.addStreamHandlers(channel, kind: kind, id: id, shared: shared, outboundServerName: nil, inbound: true,
                                               mutual: mutual)
                }
            }
    }

    /// Opens an outbound TCP/TLS connection for `key` and completes `promise` with it.
    func openConnection(to destination: SIPEndpoint, key: SIPConnectionTable.Key, shared: SIPTransportShared,
                        promise: EventLoopPromise<any Channel>) {
        guard table.admit(remote: destination.address) else {
            table.finishPending(key)
            promise.fail(SIPTransportError(.connectionLimit, "connection cap reached for \(destination)"))
            return
        }
        let id = table.makeID()
        let cap = configuration.maxBufferedOutboundBytes
        ClientBootstrap(group: promise.futureResult.eventLoop)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.writeBufferWaterMark, value: .init(low: cap / 2, high: cap))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try self.addStreamHandlers(channel, kind: destination.transport, id: id, shared: shared,
                                               outboundServerName: destination.tlsServerName, inbound: false)
                }
            }
            .connect(to: destination.address)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    self.track(channel, id: id, kind: destination.transport, remote: destination.address, shared: shared)
                    self.table.finishPending(key)
                    shared.logger.debug("connected", metadata: ["connection.peer": "\(destination)", "connection.id": "\(id.rawValue)"])
                    promise.succeed(channel)
                case .failure(let error):
                    self.table.release(remote: destination.address)
                    self.table.finishPending(key)
                    promise.fail(SIPTransportError(.connectFailed, "cannot connect to \(destination): \(error)"))
                }
            }
    }

    /// Enters a connection in the flow table and takes it out (and gives back its admission,
    /// and tells the handler) when it closes.
    private func track(_ channel: any Channel, id: SIPConnectionID, kind: SIPTransportKind, remote: SocketAddress,
                       shared: SIPTransportShared) {
        let key = SIPConnectionTable.Key(transport: kind, remote: remote)
        table.register(.init(id: id, key: key, channel: channel))
        let table = self.table
        channel.closeFuture.whenComplete { _ in
            table.remove(id)
            table.release(remote: remote)
            shared.handler.transportDidCloseConnection(id, endpoint: SIPEndpoint(transport: kind, address: remote))
        }
    }

    /// [TLS] → idle timer → stream framing → the connection handler.
    func addStreamHandlers(_ channel: any Channel, kind: SIPTransportKind, id: SIPConnectionID, shared: SIPTransportShared,
                           outboundServerName: String?, inbound: Bool, mutual: Bool = false) throws {
        let ops = channel.pipeline.syncOperations
        if kind == .tls {
            if inbound {
                guard let context = mutual ? mutualServerTLS : serverTLS else {
                    throw SIPTransportError(.tlsConfiguration, "no server certificate")
                }
                try ops.addHandler(makeServerTLSHandler(context, mutual: mutual))
            } else {
                guard let context = clientTLS else { throw SIPTransportError(.tlsConfiguration, "no TLS settings") }
                try ops.addHandler(try makeClientTLSHandler(context, serverName: outboundServerName))
            }
        }
        try ops.addHandler(SIPIdleHandler(timeout: configuration.idleTimeout))
        let limits = configuration.parseLimits
        let progress = SIPStreamProgress()
        try ops.addHandler(ByteToMessageHandler(SIPStreamDecoder(limits: limits, progress: progress),
                                                maximumBufferSize: 2 * limits.maxMessageSize + 4096))
        try ops.addHandler(SIPStreamHandler(kind: kind, id: id, shared: shared, inbound: inbound, progress: progress))
    }

    /// Mutual TLS (RFC 5922 §7.3): the chain is checked by BoringSSL against the trust roots;
    /// the names (DNS SANs, else CN) against the configured check before any data flows.
    private func makeServerTLSHandler(_ context: NIOSSLContext, mutual: Bool) -> NIOSSLServerHandler {
        guard let tls = configuration.tls, tls.clientCertificates != .none || mutual else {
            return NIOSSLServerHandler(context: context)
        }
        let check = tls.inboundPeerNames
        let logger = self.logger
        return NIOSSLServerHandler._makeSSLServerHandler(context: context) { certificate, channel in
            let names = SIPCertificateNames.names(of: certificate)
            guard check.accepts(names, remote: channel.remoteAddress) else {
                logger.notice("TLS peer certificate names not accepted", metadata: [
                    "connection.peer": "\(channel.remoteAddress?.sipHostPort ?? "?")", "tls.peer_names": "\(names)"])
                return channel.eventLoop.makeFailedFuture(SIPTransportError(.tlsPeerRejected, "peer certificate names \(names) not accepted"))
            }
            return channel.eventLoop.makeSucceededVoidFuture()
        }
    }

    /// Outbound: the peer must chain to the trust roots and, when a name is expected, carry it.
    private func makeClientTLSHandler(_ context: NIOSSLContext, serverName: String?) throws -> NIOSSLClientHandler {
        guard let serverName else { return try NIOSSLClientHandler(context: context, serverHostname: nil) }
        let sni = ViaProcessing.isNumeric(serverName) ? nil : serverName
        let check = SIPPeerNameCheck.names([serverName])
        return try NIOSSLClientHandler._makeSSLClientHandler(context: context, serverHostname: sni) { certificate, channel in
            let names = SIPCertificateNames.names(of: certificate)
            guard check.accepts(names, remote: channel.remoteAddress) else {
                return channel.eventLoop.makeFailedFuture(
                    SIPTransportError(.tlsPeerRejected, "server certificate names \(names) do not include \(serverName)"))
            }
            return channel.eventLoop.makeSucceededVoidFuture()
        }
    }
}
