import SIPCore
import Store

/// Where a static route or a federation points: a named server (a `--peer`, else resolved
/// with DNS, always mutual TLS) or an address (`tls:HOST:PORT`, `tcp:…`, `udp:…`).
public enum RouteServer: Hashable, Sendable, CustomStringConvertible {
    case named(String)
    case address(ListenAddress)

    /// `NAME` or `TRANSPORT:HOST:PORT`; nil when empty or malformed.
    public init?(_ text: String) {
        if let address = ListenAddress(spec: text) {
            self = .address(address)
        } else if !text.isEmpty, !text.contains(" "), !text.contains(":"), !text.contains("=") {
            self = .named(text.lowercased())
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .named(let name): name
        case .address(let a): "\(a.transport.rawValue):\(a.host):\(a.port)"
        }
    }

    func target(_ uri: URI, router: PeerRouter) -> ForwardTarget {
        switch self {
        case .named(let name): return router.target(uri, toServer: name)
        case .address(let a): return ForwardTarget(uri: uri, destination: NextHop(transport: a.transport, host: a.host, port: a.port))
        }
    }

    /// True when a verified certificate with `names` belongs to this server.
    func isPresented(by names: [String], peers: PeerTable) -> Bool {
        guard case .named(let name) = self else { return false }
        return names.contains { $0.lowercased() == name }
    }
}

/// `DOMAIN=SERVER` pairs of `--route` (`*` for the default) and `--federate`.
public struct DomainRoutes: Hashable, Sendable {
    public var routes: [String: RouteServer] = [:]
    public init() {}

    /// Parses `DOMAIN=SERVER` values; throws a one-line reason naming the bad one.
    public init(_ values: [String], option: String) throws(RolesError) {
        for value in values {
            guard let eq = value.firstIndex(of: "="), eq != value.startIndex,
                  let server = RouteServer(String(value[value.index(after: eq)...])) else {
                throw RolesError(.badConfiguration, "bad \(option) '\(value)' (expected DOMAIN=SERVER)")
            }
            routes[value[..<eq].lowercased()] = server
        }
    }

    public subscript(domain: String) -> RouteServer? { routes[domain.lowercased()] }
    public var isEmpty: Bool { routes.isEmpty }
    /// The names of the servers routes point at by name.
    public var serverNames: Set<String> {
        Set(routes.values.compactMap { if case .named(let name) = $0 { name } else { nil } })
    }
}

/// Forwarding proxy: a request that still carries a Route after §16.4 follows it, but only
/// inside a dialog this proxy record-routed or from a trusted peer; a Route written by
/// anyone else is refused (403), so the relay is never open. (Requests for clients
/// registered through us carry our Path with a flow token: `follow-flow` takes them.)
public struct FollowRouteStep: RoutingStep {
    public let name = "follow-route"
    public init() {}

    public func process(_ context: inout RoutingContext) -> RoutingDecision? {
        let request = context.request
        guard request.headers.first("Route") != nil else { return nil }
        guard context.isInOwnDialog || context.trustedPeer != nil else {
            if request.method == .ack { return .drop("ACK with a Route outside our dialogs") }
            return .respond(StatusAnswer(403, "Relaying Denied"))
        }
        return .forward(ForwardPlan(request: request, targets: [ForwardTarget(uri: request.uri)],
                                    recordRoute: false, loopHash: context.loopHash))
    }
}

/// Forwarding proxy (the seed: "a relay only; inspects the originator SIP URI; static
/// routing table; no authentication; always proxies, never redirects"):
/// 1. a Request-URI in a federated partner domain goes to that partner's server (mutual TLS);
/// 2. a request from a partner domain must come over TLS from that partner's server (its
///    verified certificate carries the server's name), then goes by its Request-URI domain,
///    its From asserted (P-Asserted-Identity) to our peers;
/// 3. with federation configured, any other foreign originator is refused (403);
/// 4. otherwise the originator's (From) domain picks the route, `*` the default; no route: 404.
/// REGISTER gets a Path naming the client's flow (RFC 3327), so that requests for the client
/// come back through this proxy.
public struct StaticRouteStep: RoutingStep {
    public let name = "static-route"
    public let identity: ProxyIdentity
    public let routes: DomainRoutes
    public let federations: DomainRoutes
    public let router: PeerRouter

    public init(identity: ProxyIdentity, routes: DomainRoutes, federations: DomainRoutes, router: PeerRouter) {
        self.identity = identity
        self.routes = routes
        self.federations = federations
        self.router = router
    }

    public func process(_ context: inout RoutingContext) -> RoutingDecision? {
        var request = context.request
        let targetDomain = request.uri.sipURI?.host.lowercased() ?? ""
        let fromDomain = request.from?.uri.sipURI?.host.lowercased() ?? ""
        let server: RouteServer
        if let partner = federations[targetDomain] {
            server = partner
        } else if let partner = federations[fromDomain] {
            guard partner.isPresented(by: context.source.tlsPeerNames, peers: router.peers) else {
                return .respond(StatusAnswer(403, "Untrusted Domain"))
            }
            // The partner's certificate vouches for its domain's users: we assert the From to
            // our peers (RFC 3325), so a home server can treat the partner's watcher as known.
            if let from = request.from?.uri.sipURI, let user = from.user {
                AssertedIdentityStep.assert(AOR.normalize("\(user)@\(from.host)"), in: &request)
            }
            guard let route = routes[targetDomain] ?? routes["*"] else { return .respond(StatusAnswer(404)) }
            server = route
        } else if !federations.isEmpty, routes[fromDomain] == nil, context.trustedPeer == nil {
            return .respond(StatusAnswer(403, "Untrusted Domain"))
        } else if let route = routes[fromDomain] ?? routes["*"] {
            server = route
        } else {
            return .respond(StatusAnswer(404, "No Route"))
        }
        if request.method == .register {
            let towards: ListenTransport = if case .address(let a) = server { a.transport } else { .tls }
            request.headers.insertFirst("Path", identity.pathValue(for: FlowRouteToken.Flow(context.source), towards: towards))
        }
        return .forward(ForwardPlan(request: request, targets: [server.target(request.uri, router: router)],
                                    recordRoute: RequestForwarding.shouldRecordRoute(request),
                                    loopHash: context.loopHash, followRedirects: true))
    }
}
