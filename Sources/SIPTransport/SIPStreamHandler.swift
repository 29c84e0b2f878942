import Logging
import NIOCore
import NIOSSL
import SIPCore

/// What every channel handler of one transport layer shares.
struct SIPTransportShared: Sendable {
    let handler: any SIPInboundHandler
    let table: SIPConnectionTable
    let configuration: SIPTransportConfiguration
    let logger: Logger
}

/// One TCP or TLS connection (RFC 3261 §18.3): delivers framed messages upward, answers
/// keepalive pings (RFC 5626 §3.5.1), answers framing errors with their status and closes
/// the connection when the stream cannot be framed past them, closes idle connections and
/// connections whose message (or, inbound, whose first message) takes too long to complete,
/// refuses to buffer without bound for a peer that stops reading, and tells the handler when
/// the connection closes (RFC 3261 §17.1.4).
final class SIPStreamHandler: ChannelDuplexHandler {
    typealias InboundIn = SIPStreamFrame
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let kind: SIPTransportKind
    private let id: SIPConnectionID
    private let shared: SIPTransportShared
    private let inbound: Bool
    /// Shared with this connection's decoder: whether it holds part of a message.
    private let progress: SIPStreamProgress
    /// Closes the connection when the message under way is not complete in time.
    private var messageDeadline: Scheduled<Void>?
    /// Inbound: closes the connection when no complete message has come in time.
    private var firstMessageDeadline: Scheduled<Void>?
    private var sawMessage = false
    private var logger: Logger
    private var remote: SocketAddress?
    private var local: SocketAddress?
    /// Their IP text, formatted once (every message's source and Via stamp use it).
    private var remoteIP: String?
    private var localIP: String?
    private var peerNames: [String]?
    private var closing = false
    private var aliased = false
    /// Between channelRead and channelReadComplete: flushes are held and coalesced, so answers
    /// given on the event loop to a burst of pipelined requests leave in one write.
    private var inReadBurst = false
    private var flushPending = false

    /// - Parameters:
    ///   - inbound: an accepted connection (its first message is timed).
    ///   - progress: the one given to this connection's `SIPStreamDecoder`.
    init(kind: SIPTransportKind, id: SIPConnectionID, shared: SIPTransportShared, inbound: Bool = true,
         progress: SIPStreamProgress = SIPStreamProgress()) {
        self.kind = kind
        self.id = id
        self.shared = shared
        self.inbound = inbound
        self.progress = progress
        self.logger = shared.logger
        logger[metadataKey: "connection.id"] = "\(id.rawValue)"
        logger[metadataKey: "connection.transport"] = "\(kind)"
    }

    func handlerAdded(context: ChannelHandlerContext) {
        captureAddresses(context)
        if context.channel.isActive { armFirstMessageDeadline(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        captureAddresses(context)
        armFirstMessageDeadline(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelDeadlines()
        shared.handler.transportConnectionDidClose(id)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelDeadlines()
    }

    private func captureAddresses(_ context: ChannelHandlerContext) {
        if remote == nil, let r = context.channel.remoteAddress {
            remote = r
            remoteIP = r.ipAddress
            logger[metadataKey: "connection.peer"] = "\(r.sipHostPort)"
        }
        if local == nil, let l = context.channel.localAddress {
            local = l
            localIP = l.ipAddress
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        inReadBurst = true
        switch unwrapInboundIn(data) {
        case .message(var message):
            messageDeadline?.cancel()
            messageDeadline = nil
            if !sawMessage {
                sawMessage = true
                firstMessageDeadline?.cancel()
                firstMessageDeadline = nil
                if inbound { shared.table.markSpoke(id) }
            }
            guard let remote, let local else { return }
            if kind == .tls, peerNames == nil {  // data flows only after the handshake
                let ssl = try? context.pipeline.syncOperations.handler(type: NIOSSLHandler.self)
                peerNames = ssl?.peerCertificate.map { SIPCertificateNames.names(of: $0) } ?? []
            }
            if case .request(var request) = message {
                ViaProcessing.stampTopVia(of: &request, source: remote, sourceIP: remoteIP)
                if !aliased, kind == .tls { registerAlias(request, remote: remote) }
                message = .request(request)
            }
            shared.handler.transportDidReceive(InboundMessage(
                message: message, transport: kind, remote: remote, local: local,
                connectionID: id, tlsPeerNames: peerNames ?? [], channel: context.channel,
                remoteIP: remoteIP, localIP: localIP))
        case .ping:
            logger.trace("keepalive ping, answering pong")
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(staticString: "\r\n")), promise: nil)
        case .error(let error, let salvaged, let rawAnswer, let fatal):
            messageDeadline?.cancel()
            messageDeadline = nil
            logger.debug("framing error", metadata: ["sip.error": "\(error.reason)", "sip.fatal": "\(fatal)"])
            var answered: EventLoopFuture<Void>?
            var answer = rawAnswer
            if let status = error.status, let request = salvaged, request.method != .ack {
                answer = SIPResponse(responding: request, statusCode: status,
                                     reasonPhrase: SIPStatus.reasonPhrase(for: status)).serialized()
            }
            if let answer {
                let promise = context.eventLoop.makePromise(of: Void.self)
                context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: answer)), promise: promise)
                answered = promise.futureResult
            }
            if fatal {
                closing = true
                let channel = context.channel
                if let answered {
                    answered.whenComplete { _ in channel.close(promise: nil) }
                } else {
                    context.close(promise: nil)
                }
            }
        }
    }

    /// RFC 5923 §5–6: a TLS peer whose top Via carries `alias` and whose certificate names its
    /// sent-by host may be reached over this connection at that host's address and port.
    private func registerAlias(_ request: SIPRequest, remote: SocketAddress) {
        guard let via = (try? request.topVia) ?? nil, via.parameter("alias") != nil else { return }
        aliased = true
        let host = via.host.lowercased()
        guard (peerNames ?? []).contains(where: { $0.lowercased() == host }) else {
            logger.debug("alias not honoured: sent-by not in the peer certificate", metadata: ["sip.sent_by": "\(via.host)"])
            return
        }
        guard let ip = remote.ipAddress, let address = try? SocketAddress(ipAddress: ip, port: via.port ?? kind.defaultPort) else { return }
        shared.table.addAlias(.init(transport: kind, remote: address), for: id)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if progress.messageStarted {
            if messageDeadline == nil, !closing { armMessageDeadline(context: context) }
        } else if let deadline = messageDeadline {
            deadline.cancel()
            messageDeadline = nil
        }
        inReadBurst = false
        if flushPending {
            flushPending = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    func flush(context: ChannelHandlerContext) {
        if inReadBurst {
            flushPending = true
        } else {
            context.flush()
        }
    }

    // MARK: Slow-message defence

    /// The first byte of a message has arrived and the message is not complete: it has
    /// `messageCompletionTimeout` to complete (RFC 3261 §18.3 framing), else the connection closes.
    private func armMessageDeadline(context: ChannelHandlerContext) {
        let timeout = shared.configuration.messageCompletionTimeout
        messageDeadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            messageDeadline = nil
            guard !closing else { return }
            logger.notice("message not complete in time, closing", metadata: ["sip.timeout_ms": "\(timeout.nanoseconds / 1_000_000)"])
            closing = true
            context.close(promise: nil)
        }
    }

    private func armFirstMessageDeadline(context: ChannelHandlerContext) {
        guard inbound, !sawMessage, firstMessageDeadline == nil else { return }
        let timeout = shared.configuration.firstMessageTimeout
        firstMessageDeadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            firstMessageDeadline = nil
            guard !closing, !sawMessage else { return }
            logger.notice("no complete first message in time, closing", metadata: ["sip.timeout_ms": "\(timeout.nanoseconds / 1_000_000)"])
            closing = true
            context.close(promise: nil)
        }
    }

    private func cancelDeadlines() {
        messageDeadline?.cancel()
        messageDeadline = nil
        firstMessageDeadline?.cancel()
        firstMessageDeadline = nil
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .all {
            logger.debug("closing idle connection")
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("connection error, closing", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }

    /// Back-pressure: the channel's high water mark is the outbound buffer cap; a write while
    /// the peer is not reading and the cap is exceeded closes the connection.
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if closing {
            promise?.fail(SIPTransportError(.connectionClosed, "connection \(id) is closing"))
            return
        }
        guard context.channel.isWritable else {
            logger.notice("peer not reading, outbound buffer cap exceeded: closing")
            promise?.fail(SIPTransportError(.backpressure, "outbound buffer of \(id) exceeded \(shared.configuration.maxBufferedOutboundBytes) bytes"))
            closing = true
            context.close(promise: nil)
            return
        }
        context.write(data, promise: promise)
    }
}
