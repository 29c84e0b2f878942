import SIPCore
import SIPTransaction
import Store

/// Which server a user is homed on (the directory's third column, `sipctl user import`).
public protocol HomeLookup: Sendable {
    /// The home server's name for `aor` (`user@domain`, normalized); nil for an unknown or
    /// disabled user, or one the directory homes nowhere in particular (served wherever it is).
    func homeServer(of aor: String) -> String?
}

extension HomeLookup {
    /// The server `uri`'s user is homed on when that is not this server (`identity`); nil for
    /// a user homed here, an unknown user, or a URI without a user part.
    func otherHome(of uri: SIPURI, identity: ProxyIdentity) -> String? {
        guard let user = uri.user, let aor = AOR.normalize("\(user)@\(uri.host)"), let home = homeServer(of: aor),
              home != identity.serverName.lowercased() else { return nil }
        return home
    }
}

/// The lookup over the store's in-memory directory (never SQLite on the hot path).
public struct DirectoryHomeLookup: HomeLookup {
    public let directory: UserDirectory
    public init(directory: UserDirectory) { self.directory = directory }

    public func homeServer(of aor: String) -> String? {
        guard let user = directory.cachedUser(aor), user.enabled else { return nil }
        return user.homeServer?.lowercased()
    }
}

/// RFC 3325 within the trust domain. A request that came over mutual TLS from a `--peer`
/// (its verified certificate carries the peer's name) is from a trusted server: its
/// `P-Asserted-Identity` names the originator the peer authenticated, so the request is not
/// challenged again. From anyone else the header proves nothing and is removed (§5).
///
/// A partner organisation's edge (`--federate`) is reachable like a peer but outside the
/// trust domain: its assertions are removed. A peer's request without the header is
/// authenticated like any other (a forwarding proxy authenticates nobody and never asserts).
public struct AssertedIdentityStep: RoutingStep {
    public let name = "asserted-identity"
    public let peers: PeerTable
    /// Servers never trusted to assert identities (federation partners' edges).
    public let distrusted: Set<String>

    public init(peers: PeerTable, distrusted: Set<String> = []) {
        self.peers = peers
        self.distrusted = distrusted
    }

    public func process(_ context: inout RoutingContext) -> RoutingDecision? {
        if !context.source.tlsPeerNames.isEmpty,
           let peer = peers.trustedPeer(certificateNames: context.source.tlsPeerNames), !distrusted.contains(peer.name) {
            context.trustedPeer = peer.name
            peers.flows.record(peer.name, source: context.source)
            if let aor = Self.assertedAOR(context.request) { context.authenticatedUser = aor }
            return nil
        }
        if context.request.headers.first("P-Asserted-Identity") != nil {
            context.request.headers.removeAll("P-Asserted-Identity")
        }
        return nil
    }

    /// The first SIP identity among the request's `P-Asserted-Identity` values.
    static func assertedAOR(_ request: SIPRequest) -> String? {
        for value in request.headers["P-Asserted-Identity"] {
            for part in value.split(separator: ",") {
                guard let addr = NameAddr(String(part)), let sip = addr.uri.sipURI, let user = sip.user,
                      let aor = AOR.normalize("\(user)@\(sip.host)") else { continue }
                return aor
            }
        }
        return nil
    }

    /// Writes the identity this server vouches for into a request going to a peer.
    static func assert(_ aor: String?, in request: inout SIPRequest) {
        guard let aor else { return }
        request.headers.removeAll("P-Asserted-Identity")
        request.headers.append("P-Asserted-Identity", "<sip:\(aor)>")
    }
}

/// Where a named server is: a `--peer` (TLS to its address, its certificate must carry its
/// name), else the name itself as a SIPS host, for RFC 3263 resolution.
public struct PeerRouter: Sendable {
    public let peers: PeerTable
    public init(peers: PeerTable) { self.peers = peers }

    /// The forwarding target that sends a request for `uri` to server `name`.
    public func target(_ uri: URI, toServer name: String) -> ForwardTarget {
        if let peer = peers.peer(named: name) { return ForwardTarget(uri: uri, destination: peers.nextHop(to: peer)) }
        var hop = NextHop(transport: .tls, host: name, port: 5061)
        hop.tlsServerName = name.lowercased()
        hop.uriLookup = NextHop.Lookup(port: nil, transport: .tls, secure: true)  // as for sips:NAME
        return ForwardTarget(uri: uri, destination: hop)
    }

    /// A Contact for a 3xx naming server `name`.
    public func contact(forServer name: String) -> String {
        "<\(peers.peer(named: name)?.uri ?? "sip:\(name);transport=tls")>"
    }
}

/// Home server: a REGISTER for a user the directory homes on another server is redirected
/// there (301, the home server's URI in Contact), as LCS 2003 did. With authentication on,
/// the REGISTER is authenticated first (401, as the registrar answers for users homed here
/// and for unknown users alike), so the redirect tells only the user itself, or a trusted
/// peer asserting it, where it is homed: an unauthenticated prober learns nothing about who
/// exists or where.
public struct HomeRedirectStep: RoutingStep {
    public let name = "home-redirect"
    public let identity: ProxyIdentity
    public let homes: any HomeLookup
    public let router: PeerRouter
    /// Nil when authentication is off (`--auth off`): the redirect is answered at once.
    public let authenticator: (any RequestAuthenticator)?

    public init(identity: ProxyIdentity, homes: any HomeLookup, router: PeerRouter,
                authenticator: (any RequestAuthenticator)? = nil) {
        self.identity = identity
        self.homes = homes
        self.router = router
        self.authenticator = authenticator
    }

    public func process(_ context: inout RoutingContext) -> RoutingDecision? {
        let request = context.request
        guard request.method == .register, request.headers.first("Route") == nil,
              identity.isResponsible(for: request.uri), let to = request.to?.uri.sipURI,
              let home = homes.otherHome(of: to, identity: identity) else { return nil }
        if let authenticator, context.authenticatedUser == nil {
            switch authenticator.authenticate(request, source: context.source) {
            case .authenticated(let aor):
                guard let user = to.user, AOR.normalize("\(user)@\(to.host)") == aor else {
                    return .respond(StatusAnswer(403, "Identity Mismatch"))
                }
                context.authenticatedUser = aor
            case .answer(let challenge):
                return .answerLocally(challenge)
            case .refused(let answer):
                return .respond(answer)
            }
        }
        return .respond(StatusAnswer(301, "Moved Permanently",
                                     headers: [SIPHeaderField(name: "Contact", value: router.contact(forServer: home))]))
    }
}

/// Home server: a request to a user of our domain homed on another server goes to that
/// server (mutual TLS), with the originator this server authenticated (or its trusted peer
/// asserted) in `P-Asserted-Identity`.
public struct HomeRoutingStep: RoutingStep {
    public let name = "home-routing"
    public let identity: ProxyIdentity
    public let homes: any HomeLookup
    public let router: PeerRouter

    public init(identity: ProxyIdentity, homes: any HomeLookup, router: PeerRouter) {
        self.identity = identity
        self.homes = homes
        self.router = router
    }

    public func process(_ context: inout RoutingContext) -> RoutingDecision? {
        guard context.request.headers.first("Route") == nil, let sip = context.request.uri.sipURI,
              identity.isOurDomain(sip.host),
              let home = homes.otherHome(of: sip, identity: identity) else { return nil }
        var request = context.request
        AssertedIdentityStep.assert(context.authenticatedUser, in: &request)
        return .forward(ForwardPlan(request: request, targets: [router.target(request.uri, toServer: home)],
                                    recordRoute: RequestForwarding.shouldRecordRoute(request),
                                    loopHash: context.loopHash, followRedirects: true))
    }
}

/// A request for a federated partner domain (`--federate DOMAIN=SERVER`) goes to SERVER over
/// mutual TLS (the organisation's edge), for an authenticated originator or a peer's request
/// only (no open relay).
public struct FederationRouteStep: RoutingStep {
    public let name = "federation"
    public let federations: DomainRoutes
    public let router: PeerRouter

    public init(federations: DomainRoutes, router: PeerRouter) {
        self.federations = federations
        self.router = router
    }

    public func process(_ context: inout RoutingContext) -> RoutingDecision? {
        guard !federations.isEmpty, context.request.headers.first("Route") == nil,
              let domain = context.request.uri.sipURI?.host, let server = federations[domain] else { return nil }
        guard context.authenticatedUser != nil || context.trustedPeer != nil || context.isInOwnDialog else {
            return .respond(StatusAnswer(403, "Relaying Denied"))
        }
        return .forward(ForwardPlan(request: context.request, targets: [server.target(context.request.uri, router: router)],
                                    recordRoute: RequestForwarding.shouldRecordRoute(context.request),
                                    loopHash: context.loopHash, followRedirects: true))
    }
}

/// A request for a client behind this proxy: our own Route value (the Path a REGISTER
/// carried, RFC 3327) named the client's flow (``FlowRouteToken``), so it goes over that flow
/// whatever its Request-URI says. A forged Route names no flow and is not followed. When
/// more Route values follow ours (another proxy's Path, nearer the client), the flow leads
/// to that proxy; that is followed only for a trusted peer's request, since a client can
/// learn its own token (a registrar echoes Path) and must not make us relay elsewhere.
public struct FollowFlowStep: RoutingStep {
    public let name = "follow-flow"
    public init() {}

    public func process(_ context: inout RoutingContext) -> RoutingDecision? {
        guard let flow = context.routeFlow else { return nil }
        let request = context.request
        let target: ForwardTarget
        if request.headers.first("Route") == nil {
            target = ForwardTarget(uri: request.uri, destination: flow.nextHop)
        } else {
            guard context.trustedPeer != nil else { return nil }
            target = ForwardTarget(uri: request.uri, flowID: flow.connectionID,
                                   flowAddress: flow.connectionID == nil ? nil : SIPHostPort(host: flow.host, port: flow.port))
        }
        return .forward(ForwardPlan(request: request, targets: [target], recordRoute: false, loopHash: context.loopHash))
    }
}

extension ProxyIdentity {
    /// The Path value (RFC 3327 §4) a proxy in front of a registrar inserts: this server's
    /// TLS address (towards the mesh) with the client's flow in the user part.
    public func pathValue(for flow: FlowRouteToken.Flow, towards transport: ListenTransport) -> String {
        let host = advertisedHost(for: transport)
        let h = host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]" : host
        let port = advertisedPort(for: transport)
        let token = FlowRouteToken.make(flow)
        switch transport {
        case .udp: return "<sip:\(token)@\(h):\(port);lr>"
        case .tcp: return "<sip:\(token)@\(h):\(port);transport=tcp;lr>"
        case .tls: return "<sip:\(token)@\(h):\(port);transport=tls;lr>"
        }
    }
}

/// Home server and front-end with `--federate`: a request from a foreign domain is taken only
/// from that partner's edge (its verified certificate carries the server's name), from a
/// trusted peer (our own edge, which checked it), or inside a dialog we record-routed; any
/// other foreign originator is refused (403), so nobody reaching a server directly can speak
/// for a partner's users, nor for a domain that is no partner. Without `--federate` foreign
/// originators are left to the other steps, as a plain SIP server does.
public struct FederationGateStep: RoutingStep {
    public let name = "federation-gate"
    public let identity: ProxyIdentity
    public let federations: DomainRoutes
    public let peers: PeerTable

    public init(identity: ProxyIdentity, federations: DomainRoutes, peers: PeerTable) {
        self.identity = identity
        self.federations = federations
        self.peers = peers
    }

    public func process(_ context: inout RoutingContext) -> RoutingDecision? {
        guard !federations.isEmpty, !context.isInOwnDialog, context.trustedPeer == nil,
              let fromDomain = (context.request.from?.uri.sipURI?.host).map(ProxyIdentity.bareHost),
              !identity.isOurDomain(fromDomain) else { return nil }
        if let partner = federations[fromDomain], partner.isPresented(by: context.source.tlsPeerNames, peers: peers) {
            return nil
        }
        if context.request.method == .ack { return .drop("ACK from an untrusted foreign domain") }
        return .respond(StatusAnswer(403, "Untrusted Domain"))
    }
}
