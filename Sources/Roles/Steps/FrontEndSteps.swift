import SIPCore
import Store

/// Front-end: digest authentication of the originator of every new request from a user of
/// our domains, REGISTER included (401 for REGISTER, 407 otherwise, RFC 3261 §22). The
/// authenticated user must be the originator: the To AOR of a REGISTER, the From AOR of
/// anything else (403 otherwise). Requests inside a dialog this server record-routed, for a
/// client flow behind it, or asserted by a trusted peer (RFC 3325) are not challenged.
public struct OriginatorAuthenticateStep: RoutingStep {
    public let name = "authenticate"
    public let identity: ProxyIdentity
    public let authenticator: any RequestAuthenticator

    public init(identity: ProxyIdentity, authenticator: any RequestAuthenticator) {
        self.identity = identity
        self.authenticator = authenticator
    }

    public func process(_ context: inout RoutingContext) -> RoutingDecision? {
        let request = context.request
        if request.method == .ack || request.method == .cancel { return nil }
        if context.isInOwnDialog || context.authenticatedUser != nil || context.routeFlow != nil { return nil }
        let originator = request.method == .register ? request.to?.uri.sipURI : request.from?.uri.sipURI
        guard let originator, let user = originator.user, identity.isOurDomain(originator.host),
              let claimed = AOR.normalize("\(user)@\(originator.host)") else { return nil }
        switch authenticator.authenticate(request, source: context.source) {
        case .authenticated(let aor):
            guard aor == claimed else { return .respond(StatusAnswer(403, "Identity Mismatch")) }
            context.authenticatedUser = aor
            return nil
        case .answer(let response):
            return .answerLocally(response)
        case .refused(let answer):
            return .respond(answer)
        }
    }
}

/// How a front-end hands a request to the originator's home server (`--mode`).
public enum FrontEndMode: String, Hashable, Sendable, CaseIterable {
    /// Proxy it there (Record-Route, and Path on REGISTER, RFC 3327).
    case proxy
    /// Redirect the client there (302, the home server's URI in Contact).
    case redirect
}

/// Front-end (the seed: "a home server that homes nobody; queries the directory for the
/// originator's home server; proxies or redirects"): a request from an authenticated user of
/// our domains goes to that user's home server, which routes it on (to the target's home
/// server). REGISTER gets a Path naming the client's flow, so that the home server reaches
/// the client back through this front-end. A request from elsewhere (another domain) to a
/// user of ours goes to the target's home server. Anything else is left to the next step.
public struct HomeLookupStep: RoutingStep {
    public let name = "home-lookup"
    public let identity: ProxyIdentity
    public let homes: any HomeLookup
    public let router: PeerRouter
    public let mode: FrontEndMode
    /// Authentication off (labs): the From (To for REGISTER) AOR is taken as the originator.
    public let trustClaimedOriginator: Bool

    public init(identity: ProxyIdentity, homes: any HomeLookup, router: PeerRouter, mode: FrontEndMode,
                trustClaimedOriginator: Bool) {
        self.identity = identity
        self.homes = homes
        self.router = router
        self.mode = mode
        self.trustClaimedOriginator = trustClaimedOriginator
    }

    public func process(_ context: inout RoutingContext) -> RoutingDecision? {
        let request = context.request
        guard request.headers.first("Route") == nil, request.method != .ack,
              request.method == .register || request.uri.sipURI?.user != nil else { return nil }
        var home: String?
        var originator = context.authenticatedUser
        if originator == nil, trustClaimedOriginator { originator = Self.claimedOriginator(request, identity: identity) }
        if let originator {
            guard let found = homes.homeServer(of: originator) else {
                return .respond(StatusAnswer(480, "No Home Server"))
            }
            home = found
        } else if request.method != .register, let sip = request.uri.sipURI, let user = sip.user,
                  identity.isOurDomain(sip.host), let aor = AOR.normalize("\(user)@\(sip.host)") {
            home = homes.homeServer(of: aor)  // inbound from another domain: the target's home
        }
        guard let home else { return nil }
        if mode == .redirect, context.trustedPeer == nil {
            return .redirect([router.contact(forServer: home)])
        }
        var forwarded = request
        AssertedIdentityStep.assert(context.authenticatedUser, in: &forwarded)
        if request.method == .register {
            forwarded.headers.insertFirst("Path", identity.pathValue(for: FlowRouteToken.Flow(context.source), towards: .tls))
        }
        return .forward(ForwardPlan(request: forwarded, targets: [router.target(forwarded.uri, toServer: home)],
                                    recordRoute: RequestForwarding.shouldRecordRoute(forwarded),
                                    loopHash: context.loopHash, followRedirects: true))
    }

    static func claimedOriginator(_ request: SIPRequest, identity: ProxyIdentity) -> String? {
        guard let sip = request.method == .register ? request.to?.uri.sipURI : request.from?.uri.sipURI,
              let user = sip.user, identity.isOurDomain(sip.host) else { return nil }
        return AOR.normalize("\(user)@\(sip.host)")
    }
}
