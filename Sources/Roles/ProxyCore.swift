import Logging
import SIPCore
import SIPTransaction
import SIPTransport
import Synchronization

/// The stateful proxy engine (RFC 3261 §16): a `SIPRequestHandler` the server assembly hands
/// every request to. It asks the routing policy what to do, then answers, redirects, or
/// forwards: one client transaction per target (parallel forking), responses through a
/// `ResponseContext` (§16.7), timer C for INVITE (§16.8), CANCEL (§16.10), and stateless
/// forwarding of ACK for 2xx and stray responses (§16.11).
public final class ProxyCore: SIPRequestHandler {
    public struct Configuration: Sendable {
        /// Timer C (§16.6 step 11): more than 3 minutes.
        public var timerC: Duration
        public init(timerC: Duration = .seconds(181)) { self.timerC = timerC }
    }

    public let policy: any RoutingPolicy
    public let configuration: Configuration
    let identityCell: Mutex<ProxyIdentity>
    let layerCell = Mutex<TransactionLayer?>(nil)
    /// Response contexts of INVITEs, by server transaction id, for CANCEL (§16.10).
    let cancellable = Mutex<[UInt64: AsyncStream<ProxyEvent>.Continuation]>([:])
    let logger: Logger

    public init(policy: any RoutingPolicy, identity: ProxyIdentity, configuration: Configuration = .init(),
                logger: Logger = Logger(label: "sip.proxy")) {
        self.policy = policy
        self.configuration = configuration
        self.identityCell = Mutex(identity)
        self.logger = logger
    }

    /// Connects the engine to the transaction layer it starts client transactions on.
    public func attach(_ layer: TransactionLayer) {
        layerCell.withLock { $0 = layer }
    }

    /// Who this proxy is; updated once listeners are bound (ports chosen by the system).
    public var identity: ProxyIdentity {
        get { identityCell.withLock { $0 } }
        set { identityCell.withLock { $0 = newValue } }
    }

    var layer: TransactionLayer? { layerCell.withLock { $0 } }

    // MARK: SIPRequestHandler

    public func handle(_ transaction: ServerTransaction) async {
        let source = RequestSource(transaction.source)
        var context = RoutingContext(request: transaction.request, source: source)
        let decision = await policy.decide(&context)
        switch decision {
        case .answerLocally(let response):
            await respond(transaction, response)
        case .respond(let answer):
            await respond(transaction, answer.response(to: transaction.request, toTag: transaction.toTag))
        case .redirect(let contacts):
            var response = transaction.makeResponse(302)
            for contact in contacts { response.headers.append("Contact", contact) }
            await respond(transaction, response)
        case .drop(let why):
            logger.debug("nothing to answer", metadata: ["sip.reason": "\(why)"])
            await respond(transaction, transaction.makeResponse(500))
        case .forward(let plan):
            await forward(transaction, plan: plan, inbound: source.transport)
        }
    }

    public func handleCancel(_ cancel: SIPRequest, for invite: ServerTransaction) async {
        let continuation = cancellable.withLock { $0[invite.id] }
        if let continuation {
            continuation.yield(.cancel)
        } else {
            try? await invite.respond(487)
        }
    }

    /// §16.11: an ACK for a 2xx (or matching nothing) is routed like a request and sent on
    /// statelessly, with a branch derived from the upstream one (the same for every copy).
    public func handleACK(_ ack: SIPRequest, source: SIPMessageSource, invite: ServerTransaction?) async {
        guard let layer else { return }
        let requestSource = RequestSource(source)
        var context = RoutingContext(request: ack, source: requestSource)
        guard case .forward(let plan) = await policy.decide(&context), let target = plan.targets.first else { return }
        let seed = (try? ack.topVia?.branch) ?? nil
        guard let forwarded = RequestForwarding.forward(
            plan.request, to: target, identity: identity, inbound: requestSource.transport, recordRoute: false,
            loopHash: plan.loopHash, seed: seed ?? ack.headers.first("Call-ID") ?? "", fork: 0) else { return }
        layer.sendStateless(forwarded.request, to: SIPDestination(forwarded.nextHop))
    }

    /// §16.7 step 3 / §18: a response matching no client transaction whose top Via is ours
    /// (a 2xx retransmission of a forked INVITE) goes on statelessly to the next Via.
    public func handleStrayResponse(_ response: SIPResponse, source: SIPMessageSource) async {
        guard let layer, let vias = try? response.vias, vias.count >= 2,
              identity.isOwnAddress(host: vias[0].host, port: vias[0].port),
              (200..<300).contains(response.statusCode) else { return }
        var upstream = response
        upstream.headers.removeFirstValue("Via")
        layer.sendStateless(upstream, replyingTo: SIPMessageSource(via: vias[1]))
    }

    // MARK: Forwarding

    func respond(_ transaction: ServerTransaction, _ response: SIPResponse) async {
        do {
            try await transaction.respond(response)
        } catch {
            // A second 2xx to INVITE after the server transaction ended goes statelessly.
            if (200..<300).contains(response.statusCode), transaction.request.method == .invite {
                layer?.sendStateless(response, replyingTo: transaction.source)
            } else {
                logger.debug("response not sent", metadata: ["sip.error": "\(error)"])
            }
        }
    }
}

extension RequestSource {
    init(_ source: SIPMessageSource) {
        self.init(transport: source.transport,
                  host: source.remote.host, port: source.remote.port, flowID: source.flowID)
    }
}

extension SIPDestination {
    init(_ hop: NextHop) {
        self.init(transport: SIPTransportKind(rawValue: hop.transport.rawValue) ?? .udp,
                  address: SIPHostPort(host: hop.host, port: hop.port), flowID: hop.flowID)
    }
}

extension SIPMessageSource {
    /// Where §18.2.2 sends a response for a request that carried `via`: received/rport,
    /// else sent-by.
    init(via: Via) {
        let host = via.received ?? via.host
        let port = (via.rport ?? nil) ?? via.port ?? (via.transport.uppercased() == "TLS" ? 5061 : 5060)
        self.init(transport: SIPTransportKind(rawValue: via.transport.lowercased()) ?? .udp,
                  remote: SIPHostPort(host: host, port: port))
    }
}
