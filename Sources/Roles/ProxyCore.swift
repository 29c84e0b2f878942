import Logging
import SIPCore
import SIPTransaction
import SIPTransport
import Synchronization

/// The stateful proxy engine (RFC 3261 §16): a `SIPRequestHandler` the server assembly hands
/// every request to. It asks the routing policy what to do, then answers, hands the request
/// to a local service, redirects, or forwards: one client transaction per target (parallel
/// forking), responses through a `ResponseContext` (§16.7), timer C for INVITE (§16.8),
/// CANCEL (§16.10), and stateless forwarding of ACK for 2xx and stray responses (§16.11).
/// All of it runs synchronously on the event loop that read the message.
public final class ProxyCore: SIPRequestHandler {
    public struct Configuration: Sendable {
        /// Timer C (§16.6 step 11): more than 3 minutes.
        public var timerC: Duration
        /// Requests relayed and not yet answered towards one next hop over UDP or TCP (a
        /// user's device): one that never answers (gone without unregistering, or an
        /// attacker's own Contact) holds each for up to 32 s (Timer F), and without this
        /// limit a flood towards it could take the whole client transaction table. Past it
        /// the branch fails at once (503). Configured peers (`--peer`: other home servers,
        /// front-ends), which carry many users' requests, are not limited.
        public var maxInFlightPerHop: Int
        /// Requests relayed and not yet answered that arrived from one source address (not a
        /// configured peer): one sender reaching many devices that never answer (its own
        /// registered Contacts, or several accounts' worth) holds at most this many client
        /// transactions. Past it the branch fails at once (503).
        public var maxInFlightPerSource: Int
        /// Of one next hop's ``maxInFlightPerHop``, how many one source address (not a
        /// configured peer) may hold: a stranger's flood of INVITEs to bob's ringing phone
        /// must leave room for alice's MESSAGE. Past it that source's branch fails at once.
        public var maxInFlightPerSourceAtHop: Int
        public init(timerC: Duration = .seconds(181), maxInFlightPerHop: Int = 1_024, maxInFlightPerSource: Int = 4_096,
                    maxInFlightPerSourceAtHop: Int = 256) {
            self.timerC = timerC
            self.maxInFlightPerHop = maxInFlightPerHop
            self.maxInFlightPerSource = maxInFlightPerSource
            self.maxInFlightPerSourceAtHop = maxInFlightPerSourceAtHop
        }
    }

    public let policy: any RoutingPolicy
    public let configuration: Configuration
    /// Where a next hop named by a host name goes (RFC 3263): a `--peer`, else DNS.
    let resolver: NextHopResolver
    let identityCell: Mutex<ProxyIdentity>
    let layerCell = Mutex<TransactionLayer?>(nil)
    /// INVITEs being routed or forwarded, by server transaction id, for CANCEL (§16.10).
    /// Entered before the policy runs, so a CANCEL finds its INVITE whatever the timing.
    let invites = Mutex<[UInt64: ProxyTransaction]>([:])
    /// Relayed requests in flight per next hop (``Configuration/maxInFlightPerHop``).
    let inFlightPerHop: InFlightLimit<HopKey>
    /// Relayed requests in flight per source address (``Configuration/maxInFlightPerSource``).
    let inFlightPerSource: InFlightLimit<String>
    /// Relayed requests in flight per source at one hop (``Configuration/maxInFlightPerSourceAtHop``).
    let inFlightPerSourceAtHop: InFlightLimit<SourceAtHopKey>
    let logger: Logger
    /// Told of every request and of each relayed request's final status (`--metrics`,
    /// `--log-requests`); set once at creation, read without a lock.
    public let observer: (any RelayObserver)?

    public init(policy: any RoutingPolicy, identity: ProxyIdentity, configuration: Configuration = .init(),
                logger: Logger = Logger(label: "sip.proxy"), observer: (any RelayObserver)? = nil,
                resolver: NextHopResolver = NextHopResolver(peers: PeerTable(), locator: nil)) {
        self.observer = observer
        self.resolver = resolver
        self.policy = policy
        self.configuration = configuration
        inFlightPerHop = InFlightLimit(limit: configuration.maxInFlightPerHop)
        inFlightPerSource = InFlightLimit(limit: configuration.maxInFlightPerSource)
        inFlightPerSourceAtHop = InFlightLimit(limit: configuration.maxInFlightPerSourceAtHop)
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

    public func handle(_ transaction: ServerTransaction) {
        observer?.received(transaction.request.method)
        let source = RequestSource(transaction.source)
        var proxied: ProxyTransaction?
        if transaction.request.method == .invite {
            let entry = ProxyTransaction(transaction: transaction, core: self)
            invites.withLock { $0[transaction.id] = entry }
            proxied = entry
        }
        var context = RoutingContext(request: transaction.request, source: source)
        let decision = policy.decide(&context)
        if case .forward(let plan) = decision {
            let entry = proxied ?? ProxyTransaction(transaction: transaction, core: self)
            // Relays are limited per sender, except for a configured peer's (many users').
            let relaySource = context.trustedPeer == nil ? source.host : nil
            if let gate = context.forwardGate {
                let isInvite = proxied != nil
                gate.admit(plan, context: context, transaction: transaction) { [self] admission in
                    switch admission {
                    case .forward(let onFinal):
                        entry.forward(plan, inbound: source.transport, relaySource: relaySource, onFinal: onFinal)
                    case .refuse(let answer):
                        if isInvite { forget(transaction.id) }
                        respond(transaction, answer.response(to: transaction.request, toTag: transaction.toTag))
                    }
                }
                return
            }
            entry.forward(plan, inbound: source.transport, relaySource: relaySource)
            return
        }
        if proxied != nil { forget(transaction.id) }
        switch decision {
        case .answerLocally(let response):
            respond(transaction, response)
        case .localService(let service):
            service.serve(transaction, context: context)
        case .respond(let answer):
            respond(transaction, answer.response(to: transaction.request, toTag: transaction.toTag))
        case .redirect(let contacts):
            var response = transaction.makeResponse(302)
            for contact in contacts { response.headers.append("Contact", contact) }
            respond(transaction, response)
        case .drop(let why):
            logger.debug("nothing to answer", metadata: ["sip.reason": "\(why)"])
            respond(transaction, transaction.makeResponse(500))
        case .forward:
            break
        }
    }

    /// The server's own refusals (3xx-6xx: a digest challenge, 403, 404, 405, 480, 483...)
    /// and its own answer to OPTIONS keep no transaction state when they answer a non-INVITE
    /// request (``ServerTransaction/respondAndEnd(_:)``): a retransmission gets the same
    /// answer again, and requests nobody authenticated must not hold table slots for 32 s
    /// each. A relayed answer, or a 2xx that changed something, keeps its Completed state.
    static func endsAtOnce(_ response: SIPResponse, to method: SIPMethod) -> Bool {
        response.statusCode >= 300 || (method == .options && response.statusCode >= 200)
    }

    /// §16.10: CANCEL the INVITE's branches. An INVITE still being routed remembers the
    /// CANCEL and cancels its branches as soon as they exist.
    public func handleCancel(_ cancel: SIPRequest, for invite: ServerTransaction) {
        observer?.received(.cancel)
        if let entry = invites.withLock({ $0[invite.id] }) {
            entry.cancel()
        } else {
            try? invite.respond(487)
        }
    }

    func forget(_ id: UInt64) {
        _ = invites.withLock { $0.removeValue(forKey: id) }
    }

    /// §16.11: an ACK for a 2xx is routed like a request and sent on statelessly, with a
    /// branch derived from the upstream one (the same for every copy). An ACK cannot be
    /// challenged, so one that matches no INVITE transaction of ours goes on only inside a
    /// dialog we record-routed (its Route carries our dialog token); any other is dropped,
    /// or anybody could deliver a body to any user with no credentials.
    public func handleACK(_ ack: SIPRequest, source: SIPMessageSource, invite: ServerTransaction?) {
        observer?.received(.ack)
        guard let layer else { return }
        let requestSource = RequestSource(source)
        var context = RoutingContext(request: ack, source: requestSource)
        let decision = policy.decide(&context)
        guard invite != nil || context.isInOwnDialog || context.trustedPeer != nil else {
            logger.debug("ACK outside our dialogs dropped", metadata: ["connection.peer": "\(source)"])
            return
        }
        guard case .forward(let plan) = decision, let target = plan.targets.first else { return }
        let seed = (try? ack.topVia?.branch) ?? nil
        guard let forwarded = RequestForwarding.forward(
            plan.request, to: target, identity: identity, inbound: requestSource.transport, recordRoute: false,
            loopHash: plan.loopHash, seed: seed ?? ack.headers.first("Call-ID") ?? "", fork: 0) else { return }
        resolver.resolve(forwarded.nextHop) { hops in
            guard let hop = hops.first else { return }
            var request = forwarded.request
            if hop.transport != forwarded.nextHop.transport, let via = request.headers.first("Via") {
                // The Via names the transport the resolver chose (same branch: §16.11).
                request.headers.removeFirstValue("Via")
                request.headers.insertFirst("Via", via.replacing("SIP/2.0/\(forwarded.nextHop.transport.viaToken)",
                                                                 with: "SIP/2.0/\(hop.transport.viaToken)"))
            }
            layer.sendStateless(request, to: SIPDestination(hop))
        }
    }

    /// §16.7 step 3 / §18: a response matching no client transaction whose top Via is ours
    /// (a 2xx retransmission of a forked INVITE) goes on statelessly to the next Via. Only
    /// that: a 2xx to INVITE whose top Via carries one of our branches, and only over UDP.
    /// Anything else matching nothing is dropped, so that a forged "response" cannot make the
    /// server open a connection to any host and port it names and write attacker-chosen
    /// bytes there (over a stream, the first 2xx already went up the connection).
    public func handleStrayResponse(_ response: SIPResponse, source: SIPMessageSource) {
        guard let layer, let vias = try? response.vias, vias.count >= 2,
              identity.isOwnAddress(host: vias[0].host, port: vias[0].port),
              (200..<300).contains(response.statusCode), (try? response.cseq)??.method == .invite,
              let branch = vias[0].branch, BranchParameter.loopHash(inBranch: branch) != nil,
              vias[1].transport.uppercased() == "UDP" else {
            logger.debug("stray response dropped", metadata: ["sip.status": "\(response.statusCode)", "connection.peer": "\(source)"])
            return
        }
        var upstream = response
        upstream.headers.removeFirstValue("Via")
        layer.sendStateless(upstream, replyingTo: SIPMessageSource(via: vias[1]))
    }

    // MARK: Forwarding

    /// Sends `response` (our own answer, or with `relayed` one from downstream, which always
    /// keeps the transaction's state).
    func respond(_ transaction: ServerTransaction, _ response: SIPResponse, relayed: Bool = false) {
        do {
            if !relayed, Self.endsAtOnce(response, to: transaction.request.method) {
                try transaction.respondAndEnd(response)
            } else {
                try transaction.respond(response)
            }
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
        self.init(transport: source.transport, host: source.remote.host, port: source.remote.port,
                  flowID: source.flowID,
                  tlsPeerNames: source.transport == .tls ? (source.transportContext as? InboundMessage)?.tlsPeerNames ?? [] : [])
    }
}

extension SIPDestination {
    init(_ hop: NextHop) {
        self.init(transport: SIPTransportKind(rawValue: hop.transport.rawValue) ?? .udp,
                  address: SIPHostPort(host: hop.host, port: hop.port), flowID: hop.flowID,
                  tlsServerName: hop.tlsServerName, flowAddress: hop.flowAddress)
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
