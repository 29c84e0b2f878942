import SIPCore
import SIPDialog
import SIPTransaction
import Store

/// §16.3 request validation as a step. OPTIONS with Max-Forwards 0 is answered locally.
public struct ValidateStep: RoutingStep {
    public let name = "validate"
    public let identity: ProxyIdentity
    public init(identity: ProxyIdentity) { self.identity = identity }

    public func process(_ context: inout RoutingContext) -> RoutingDecision? {
        switch RequestValidation.validate(context.request, identity: identity) {
        case .valid(let hash):
            if let hash { context.loopHash = hash }
            return nil
        case .answerOptionsLocally:
            return .answerLocally(OptionsResponder.response(to: context.request))
        case .reject(let answer):
            return .respond(answer)
        }
    }
}

/// §16.4 route information preprocessing as a step.
public struct RoutePreprocessStep: RoutingStep {
    public let name = "route-preprocess"
    public let identity: ProxyIdentity
    public init(identity: ProxyIdentity) { self.identity = identity }

    public func process(_ context: inout RoutingContext) -> RoutingDecision? {
        let result = RouteProcessing.preprocess(&context.request, identity: identity)
        // In a dialog we record-routed: a To tag, and our own Route value on top carrying
        // the dialog token only this server can make (RFC 3261 §12.2, §16.4).
        if (context.request.to?.tag ?? nil) != nil, let token = result.removedRouteToken,
           let match = DialogRouteToken.verify(token, request: context.request) {
            context.isInOwnDialog = staysInDialog(match, context)
        }
        if let user = result.removedRouteUser, let flow = FlowRouteToken.verify(user) { context.routeFlow = flow }
        return nil
    }

    /// Whether a request whose token matched comes from the side it claims, at the address
    /// that side had when the dialog began, and goes to the other side: from a caller that
    /// is not one of our users, to the callee; from any callee, toward the caller (the hop
    /// its side is reached through, or its host). Every party holds the token, so without
    /// this the callee could pose as the caller (or the caller as the callee), and a
    /// stranger, or a callee of another domain one of our users called, could send anywhere.
    /// A request that fails it is treated as out-of-dialog: challenged when From is one of
    /// our users, refused (403) when it leaves our domain.
    ///
    /// A callee that is not one of ours (a server of another domain, a partner's edge) may
    /// also send over a stream connection of its own from another port of the same host:
    /// such servers open new connections rather than reuse ours (RFC 5923 is optional).
    func staysInDialog(_ match: DialogRouteToken.Match, _ context: RoutingContext) -> Bool {
        let fromOurs = context.request.from?.uri.sipURI.map { identity.isOurDomain($0.host) } ?? false
        let atItsAddress = match.senderIs(at: SIPHostPort(host: context.source.host, port: context.source.port))
            || (match.sender == .callee && !fromOurs && context.source.transport != .udp && match.calleeHostIs(context.source.host))
        guard atItsAddress else { return false }
        // Our user, at the address it called from (it was authenticated): anywhere in its dialog.
        if match.sender == .caller, fromOurs { return true }
        // The next hop: the first Route after ours, else the Request-URI (§16.6 step 7).
        let request = context.request
        let hop = request.headers["Route"].first.flatMap { NameAddr($0) }?.uri ?? request.uri
        guard let destination = DialogDestination.resolve(hop) else { return false }
        return match.sender == .caller ? match.isCallee(destination.address) : match.isTowardCaller(destination.address)
    }
}

/// Requests addressed to the server itself: a Request-URI of one of our domains or
/// addresses with no user part, and no Route left. REGISTER goes to the registrar,
/// OPTIONS is answered (RFC 3261 §11), anything else gets 405 (a method we know) or 501.
public struct LocalServerStep: RoutingStep {
    public let name = "local-server"
    public let identity: ProxyIdentity
    public let registrar: (any RegistrarService)?
    /// Extension methods a later step serves (SERVICE, for the roaming agent): passed on.
    public let passedMethods: Set<String>

    public init(identity: ProxyIdentity, registrar: (any RegistrarService)?, passedMethods: Set<String> = []) {
        self.identity = identity
        self.registrar = registrar
        self.passedMethods = passedMethods
    }

    public func process(_ context: inout RoutingContext) -> RoutingDecision? {
        let request = context.request
        guard let sip = request.uri.sipURI, sip.user == nil, request.headers.first("Route") == nil,
              identity.isResponsible(for: request.uri) else { return nil }
        context.isForOurDomain = true
        switch request.method {
        case .register:
            // A role without a registrar (front-end, forwarding proxy) passes REGISTER on.
            guard let registrar else { return nil }
            return .localService(registrar)
        case .options:
            return .answerLocally(OptionsResponder.response(to: request))
        case .ack:
            return .drop("ACK addressed to the server")
        case .extension(let method):
            return passedMethods.contains(method) ? nil : .respond(StatusAnswer(501))
        default:
            return .respond(StatusAnswer(405, headers: [allowHeader]))
        }
    }

    var allowHeader: SIPHeaderField {
        SIPHeaderField(name: "Allow", value: registrar == nil ? "OPTIONS" : "OPTIONS, REGISTER")
    }
}

/// RFC 3261 §22.3 proxy authentication of requests from our own users (their From is in
/// one of our domains). ACK and CANCEL cannot be challenged; requests inside a dialog this
/// proxy record-routed (``RoutingContext/isInOwnDialog``: a To tag *and* our Route with a
/// valid dialog token) were authorised when the dialog was made. A To tag alone proves
/// nothing (anyone can write one) and is authenticated like any request. The authenticated
/// user must own the From AOR (403 otherwise).
public struct AuthenticateStep: RoutingStep {
    public let name = "authenticate"
    public let identity: ProxyIdentity
    public let authenticator: any RequestAuthenticator

    public init(identity: ProxyIdentity, authenticator: any RequestAuthenticator) {
        self.identity = identity
        self.authenticator = authenticator
    }

    public func process(_ context: inout RoutingContext) -> RoutingDecision? {
        let request = context.request
        switch request.method {
        case .ack, .cancel, .register: return nil
        default: break
        }
        guard let from = request.from, let fromURI = from.uri.sipURI,
              identity.isOurDomain(fromURI.host) else { return nil }
        // Inside our dialog, or asserted by a trusted peer (RFC 3325): not challenged again.
        if context.isInOwnDialog || context.authenticatedUser != nil { return nil }
        switch authenticator.authenticate(request, source: context.source) {
        case .authenticated(let aor):
            guard let user = fromURI.user, AOR.normalize("\(user)@\(fromURI.host)") == aor else {
                return .respond(StatusAnswer(403, "Identity Mismatch"))
            }
            context.authenticatedUser = aor
            return nil
        case .answer(let response):
            return .answerLocally(response)
        case .refused(let answer):
            return .respond(answer)
        }
    }
}

/// §16.5 "am I responsible": a request that still carries Route values after §16.4, or whose
/// Request-URI is in a domain we do not serve, goes to its Request-URI, but only for an
/// authenticated originator or inside a dialog we record-routed; anything else is refused
/// (403 Relaying Denied; an ACK is dropped) unless `openRelay` (authentication off).
public struct ResponsibilityStep: RoutingStep {
    public let name = "am-i-responsible"
    public let identity: ProxyIdentity
    public let openRelay: Bool

    public init(identity: ProxyIdentity, openRelay: Bool) {
        self.identity = identity
        self.openRelay = openRelay
    }

    public func process(_ context: inout RoutingContext) -> RoutingDecision? {
        let request = context.request
        let hasRoute = request.headers.first("Route") != nil
        if !hasRoute, identity.isResponsible(for: request.uri) {
            context.isForOurDomain = true
            return nil
        }
        // Relaying needs an authenticated originator or a dialog we record-routed; a Route
        // or a To tag written by the sender proves nothing.
        if !openRelay, context.authenticatedUser == nil, !context.isInOwnDialog, context.trustedPeer == nil {
            if request.method == .ack { return .drop("ACK to a foreign target outside our dialogs") }
            return .respond(StatusAnswer(403, "Relaying Denied"))
        }
        return .forward(ForwardPlan(request: request, targets: [ForwardTarget(uri: request.uri)],
                                    recordRoute: RequestForwarding.shouldRecordRoute(request),
                                    loopHash: context.loopHash))
    }
}

/// §16.5 target determination from the location service: 480 for an unknown user as for a
/// known user with no binding (the same answer, so that nobody learns which users exist),
/// else every binding in parallel (highest q first).
public struct LocationStep: RoutingStep {
    public let name = "location"
    public let location: any LocationService

    public init(location: any LocationService) { self.location = location }

    public func process(_ context: inout RoutingContext) -> RoutingDecision? {
        let request = context.request
        guard let sip = request.uri.sipURI, let user = sip.user else { return .respond(StatusAnswer(404)) }
        switch location.lookup(user: user, domain: sip.host.lowercased()) {
        case .unknownUser, .noBindings:
            return .respond(StatusAnswer(480))
        case .targets(let targets):
            guard !targets.isEmpty else { return .respond(StatusAnswer(480)) }
            let ordered = targets.enumerated().sorted {
                ($0.element.q ?? 1.0, -$0.offset) > ($1.element.q ?? 1.0, -$1.offset)
            }.map(\.element)
            return .forward(ForwardPlan(request: request, targets: ordered,
                                        recordRoute: RequestForwarding.shouldRecordRoute(request),
                                        loopHash: context.loopHash))
        }
    }
}
