import Logging
import NIOCore
import NIOPosix

/// A stub resolver over UDP (RFC 1035 §4.2.1, §7): asks the configured nameservers with
/// recursion desired, waits `timeout` per attempt, moves to the next nameserver on a
/// timeout or a SERVFAIL/REFUSED, and caches answers (positive and negative) in a bounded
/// ``DNSCache``.
///
/// All query state lives on one event loop (``eventLoop``): no Task per query, only
/// promises and scheduled timeouts. A cached answer is returned on the caller's loop
/// without a hop. Identical questions in flight share one query. A response is accepted
/// only from the nameserver the query went to, with the query's id and question.
///
/// Queries advertise a 1232-byte EDNS0 payload (RFC 6891). A truncated (TC) answer is asked
/// again over TCP of the same nameserver (RFC 7766 §5); should that fail, the truncated
/// answer's records are used if it has any, else the next attempt goes on.
public final class DNSResolver: Sendable {
    public let eventLoop: any EventLoop
    public let configuration: DNSResolverConfiguration
    public let cache: DNSCache
    let logger: Logger
    let state: NIOLoopBoundBox<State>

    struct InFlight {
        var promise: EventLoopPromise<DNSAnswer>
        var lastError: SIPTransportError?
    }

    struct Pending {
        var question: DNSQuestion
        var attempt: Int
        var server: SocketAddress
        var timeout: Scheduled<Void>?
    }

    struct State {
        var inFlight: [DNSQuestion: InFlight] = [:]
        var pending: [UInt16: Pending] = [:]
        var channels: [NIOBSDSocket.ProtocolFamily: EventLoopFuture<any Channel>] = [:]
        var isShutDown = false
    }

    /// - Parameters:
    ///   - configuration: nameservers, timeout, retries, bounds (``DNSResolverConfiguration/system(path:)`` by default).
    ///   - eventLoop: the loop that owns the sockets and the query state.
    public init(configuration: DNSResolverConfiguration = .system(), eventLoop: any EventLoop,
                logger: Logger = Logger(label: "sip.dns")) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.logger = logger
        self.cache = DNSCache(capacity: configuration.cacheCapacity, maxTTL: configuration.maxTTL)
        self.state = NIOLoopBoundBox.makeBoxSendingValue(State(), eventLoop: eventLoop)
    }

    /// The answer to `name`/`type`, from the cache or the nameservers. The future completes on
    /// `callerLoop` (the resolver's loop when nil). Fails with `.dnsTimeout`, `.dnsFailure`,
    /// `.dnsMalformed` (a name that cannot be asked) or `.dnsOverloaded`; NXDOMAIN and "no
    /// records" are not failures but a negative ``DNSAnswer``.
    public func query(_ name: String, type: DNSRecordType, on callerLoop: (any EventLoop)? = nil) -> EventLoopFuture<DNSAnswer> {
        let question = DNSQuestion(name: name, type: type)
        let target = callerLoop ?? eventLoop
        if let cached = cache.lookup(question) { return target.makeSucceededFuture(cached) }
        if eventLoop.inEventLoop { return start(question).hop(to: target) }
        return eventLoop.flatSubmit { self.start(question) }.hop(to: target)
    }

    /// `query` for async callers (edges: tests, tools).
    public func query(_ name: String, type: DNSRecordType) async throws -> DNSAnswer {
        try await query(name, type: type, on: nil).get()
    }

    /// Closes the sockets and fails every query in flight with `.dnsFailure`.
    public func shutdown() -> EventLoopFuture<Void> {
        eventLoop.flatSubmit {
            var s = self.state.value
            s.isShutDown = true
            let channels = Array(s.channels.values)
            let inFlight = s.inFlight
            for pending in s.pending.values { pending.timeout?.cancel() }
            s.pending = [:]
            s.inFlight = [:]
            s.channels = [:]
            self.state.value = s
            let error = SIPTransportError(.dnsFailure, "the resolver is shut down")
            for entry in inFlight.values { entry.promise.fail(error) }
            let closes = channels.map { $0.flatMap { $0.close() }.recover { _ in } }
            return EventLoopFuture.andAllComplete(closes, on: self.eventLoop)
        }
    }

    public func shutdown() async throws {
        try await shutdown().get()
    }

    // MARK: On the loop

    private func start(_ question: DNSQuestion) -> EventLoopFuture<DNSAnswer> {
        eventLoop.preconditionInEventLoop()
        if let cached = cache.lookup(question) { return eventLoop.makeSucceededFuture(cached) }
        if let existing = state.value.inFlight[question] { return existing.promise.futureResult }
        guard !state.value.isShutDown else {
            return eventLoop.makeFailedFuture(SIPTransportError(.dnsFailure, "the resolver is shut down"))
        }
        guard state.value.inFlight.count < configuration.maxQueriesInFlight else {
            return eventLoop.makeFailedFuture(SIPTransportError(.dnsOverloaded, "\(state.value.inFlight.count) DNS queries in flight"))
        }
        guard !configuration.nameservers.isEmpty else {
            return eventLoop.makeFailedFuture(SIPTransportError(.dnsFailure, "no nameservers configured"))
        }
        do {
            _ = try DNSWire.query(id: 0, question: question)
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
        let promise = eventLoop.makePromise(of: DNSAnswer.self)
        state.value.inFlight[question] = InFlight(promise: promise)
        send(question, attempt: 0)
        return promise.futureResult
    }

    func send(_ question: DNSQuestion, attempt: Int) {
        let servers = configuration.nameservers
        guard attempt < servers.count * configuration.attempts else {
            let error = state.value.inFlight[question]?.lastError
                ?? SIPTransportError(.dnsTimeout, "no answer for \(question.name) \(question.type)")
            finish(question, .failure(error))
            return
        }
        let server = servers[attempt % servers.count]
        var fresh = UInt16.random(in: .min ... .max)
        while state.value.pending[fresh] != nil { fresh = UInt16.random(in: .min ... .max) }
        let id = fresh
        let bytes: [UInt8]
        do {
            bytes = try DNSWire.query(id: id, question: question)
        } catch {
            finish(question, .failure(error))
            return
        }
        let timeout = eventLoop.scheduleTask(in: configuration.timeout) { [self] in
            guard state.value.pending.removeValue(forKey: id) != nil else { return }
            logger.debug("DNS timeout", metadata: ["dns.question": "\(question.name) \(question.type)", "dns.server": "\(server)"])
            send(question, attempt: attempt + 1)
        }
        state.value.pending[id] = Pending(question: question, attempt: attempt, server: server, timeout: timeout)
        channel(for: server.protocol).flatMap { channel in
            channel.writeAndFlush(AddressedEnvelope(remoteAddress: server, data: channel.allocator.buffer(bytes: bytes)))
        }.whenFailure { [self] error in
            guard let pending = state.value.pending.removeValue(forKey: id) else { return }
            pending.timeout?.cancel()
            state.value.inFlight[question]?.lastError = SIPTransportError(.dnsFailure, "cannot send to \(server): \(error)")
            send(question, attempt: attempt + 1)
        }
    }

    func finish(_ question: DNSQuestion, _ result: Result<DNSAnswer, SIPTransportError>) {
        guard let entry = state.value.inFlight.removeValue(forKey: question) else { return }
        switch result {
        case .success(let answer):
            cache.insert(answer)
            entry.promise.succeed(answer)
        case .failure(let error):
            entry.promise.fail(error)
        }
    }

    private func channel(for family: NIOBSDSocket.ProtocolFamily) -> EventLoopFuture<any Channel> {
        if let existing = state.value.channels[family] { return existing }
        let host = family == .inet6 ? "::" : "0.0.0.0"
        let future = DatagramBootstrap(group: eventLoop)
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 4_096))
            .channelInitializer { [weak self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(DNSDatagramHandler { envelope in
                        self?.received(envelope)
                    })
                }
            }
            .bind(host: host, port: 0)
        state.value.channels[family] = future
        future.whenFailure { [self] _ in state.value.channels[family] = nil }
        return future
    }

    /// One datagram from a nameserver (on the loop).
    fileprivate func received(_ envelope: AddressedEnvelope<ByteBuffer>) {
        let bytes = Array(envelope.data.readableBytesView)
        guard let message = try? DNSWire.parse(bytes), message.isResponse,
              let pending = state.value.pending[message.id], pending.server == envelope.remoteAddress,
              message.questions.count == 1, message.questions[0] == pending.question else {
            logger.debug("DNS: dropped an unexpected datagram", metadata: ["dns.server": "\(envelope.remoteAddress)"])
            return
        }
        state.value.pending[message.id] = nil
        pending.timeout?.cancel()
        if message.isTruncated {
            retryOverTCP(pending.question, server: pending.server, attempt: pending.attempt, truncated: message)
        } else {
            handle(message, question: pending.question, server: pending.server, attempt: pending.attempt)
        }
    }

    /// A matched response (over UDP, or TCP after a truncated one): an answer, or on
    /// SERVFAIL/REFUSED/... the next attempt.
    func handle(_ message: DNSMessage, question: DNSQuestion, server: SocketAddress, attempt: Int) {
        switch message.responseCode {
        case .noError, .nameError:
            finish(question, .success(DNSAnswer(message: message, question: question, negativeTTL: configuration.negativeTTL)))
        default:
            state.value.inFlight[question]?.lastError = SIPTransportError(
                .dnsFailure, "\(server) answered \(message.responseCode) for \(question.name) \(question.type)")
            send(question, attempt: attempt + 1)
        }
    }

    /// After a truncated answer over TCP fails: the records the truncated one carried, if any,
    /// else the next attempt.
    func tcpFailed(_ question: DNSQuestion, truncated: DNSMessage, server: SocketAddress, attempt: Int, error: any Error) {
        logger.debug("DNS over TCP failed", metadata: ["dns.server": "\(server)", "error": "\(error)"])
        let answer = DNSAnswer(message: truncated, question: question, negativeTTL: configuration.negativeTTL)
        if truncated.responseCode == .noError, !answer.isNegative {
            finish(question, .success(answer))
        } else {
            state.value.inFlight[question]?.lastError = SIPTransportError(
                .dnsFailure, "truncated answer for \(question.name) and TCP to \(server) failed: \(error)")
            send(question, attempt: attempt + 1)
        }
    }
}

/// Hands each datagram to the resolver; the resolver matches it to a query.
private final class DNSDatagramHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    private let onDatagram: (AddressedEnvelope<ByteBuffer>) -> Void

    init(_ onDatagram: @escaping (AddressedEnvelope<ByteBuffer>) -> Void) {
        self.onDatagram = onDatagram
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        onDatagram(unwrapInboundIn(data))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // ICMP port unreachable and the like: the attempt's timeout moves on.
    }
}
