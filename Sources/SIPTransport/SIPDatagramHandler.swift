import Logging
import NIOCore
import SIPCore

/// One UDP socket (RFC 3261 §18.3 datagram framing): parses each datagram as one message,
/// stamps `received`/`rport` on requests (RFC 3261 §18.2.1, RFC 3581 §4), answers a request
/// that fails to parse with its error status when enough of it survives (RFC 3261 §21.4.1),
/// and drops bad responses and non-SIP datagrams (keepalives, STUN).
final class SIPDatagramHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    private let id: SIPConnectionID
    private let shared: SIPTransportShared
    private var local: SocketAddress?

    init(id: SIPConnectionID, shared: SIPTransportShared) {
        self.id = id
        self.shared = shared
    }

    func channelActive(context: ChannelHandlerContext) {
        local = context.channel.localAddress
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        let remote = envelope.remoteAddress
        let buffer = envelope.data
        // A SIP message starts with a token letter; CRLF keepalives and STUN (RFC 5626 §4.4.2) do not.
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self), first > 0x20 else { return }
        let limits = shared.configuration.parseLimits
        let parsed: Result<SIPMessage, SIPParseError> = buffer.withUnsafeReadableBytes { raw in
            do throws(SIPParseError) {
                return .success(try SIPParser.parseDatagram(raw, limits: limits))
            } catch {
                return .failure(error)
            }
        }
        switch parsed {
        case .success(var message):
            if case .request(var request) = message {
                ViaProcessing.stampTopVia(of: &request, source: remote)
                message = .request(request)
            }
            shared.handler.transportDidReceive(InboundMessage(
                message: message, transport: .udp, remote: remote, local: local ?? context.channel.localAddress ?? remote,
                connectionID: id, tlsPeerNames: [], channel: context.channel))
        case .failure(let error):
            answer(error, bytes: buffer, remote: remote, context: context)
        }
    }

    private func answer(_ error: SIPParseError, bytes: ByteBuffer, remote: SocketAddress, context: ChannelHandlerContext) {
        var logger = shared.logger
        logger[metadataKey: "connection.peer"] = "\(remote.sipHostPort)"
        guard let status = error.status else {
            logger.debug("dropping bad datagram", metadata: ["sip.error": "\(error.reason)"])
            return
        }
        let limits = shared.configuration.parseLimits
        guard var request = bytes.withUnsafeReadableBytes({ SIPSalvage.request(fromHeaderSection: $0, limits: limits) }) else {
            // Its five headers as they came, back to the packet's source (no Via is followed).
            guard let answer = bytes.withUnsafeReadableBytes({ SIPSalvage.rawAnswer(status: status, fromHeaderSection: $0, limits: limits) }),
                  remote.isUsableUnicastDestination(from: context.channel.localAddress) else {
                logger.debug("dropping unanswerable bad request", metadata: ["sip.error": "\(error.reason)"])
                return
            }
            logger.debug("answering bad request statelessly", metadata: ["sip.status": "\(status)", "sip.error": "\(error.reason)"])
            let out = context.channel.allocator.buffer(bytes: answer)
            context.writeAndFlush(wrapOutboundOut(AddressedEnvelope(remoteAddress: remote, data: out)), promise: nil)
            return
        }
        guard request.method != .ack else {
            logger.debug("dropping unanswerable bad request", metadata: ["sip.error": "\(error.reason)"])
            return
        }
        ViaProcessing.stampTopVia(of: &request, source: remote)
        let response = SIPResponse(responding: request, statusCode: status, reasonPhrase: SIPStatus.reasonPhrase(for: status))
        var destination = ((try? response.topVia) ?? nil).flatMap { ViaProcessing.responseDestination(topVia: $0) }?.address ?? remote
        let local = context.channel.localAddress
        if !destination.isUsableUnicastDestination(from: local) { destination = remote }
        guard destination.isUsableUnicastDestination(from: local) else { return }
        logger.debug("answering bad request statelessly", metadata: ["sip.status": "\(status)", "sip.error": "\(error.reason)"])
        let out = context.channel.allocator.buffer(bytes: response.serialized())
        context.writeAndFlush(wrapOutboundOut(AddressedEnvelope(remoteAddress: destination, data: out)), promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // ICMP port unreachable etc. on a connected-less socket: log, keep serving.
        shared.logger.debug("udp socket error", metadata: ["error": "\(error)"])
    }
}
