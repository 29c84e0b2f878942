import SIPCore

/// The home server's routing policy (ARCHITECTURE.md "Home server"): users are homed here,
/// so it is their registrar and the rendezvous point that relays their requests.
///
/// Steps, in order:
/// 1. `validate` — RFC 3261 §16.3 (400, 416, 420, 482, 483; OPTIONS at Max-Forwards 0 answered).
/// 2. `route-preprocess` — §16.4 (strict-route fix-up, our own Route values removed).
/// 2a. `archive` — with `--archive`: a MESSAGE that ends up forwarded is first made durable in
///    the archive spool (``ArchiveStep``; it never decides itself).
/// 3. `asserted-identity` — RFC 3325: a trusted peer's (mutual TLS, `--peer`)
///    P-Asserted-Identity is believed; from anyone else it is removed.
/// 3a. `federation-gate` — with `--federate`: a foreign originator only from its partner's
///    edge (verified certificate), a trusted peer, or inside our dialogs; else 403.
/// 4. `home-redirect` — a REGISTER for a user homed on another server: 301 there, once
///    the user is authenticated (401 first, as for anyone, when authentication is on).
/// 5. `presence-dialog` — SUBSCRIBE refreshes inside the presence agent's own dialogs
///    (RFC 6665 §4.1.2.2), when presence is on.
/// 6. `local-server` — requests to our domain with no user part: REGISTER to the registrar
///    (RFC 3261 §10.3, with its own 401 challenge), OPTIONS answered (§11).
/// 7. `authenticate` — when authentication is on: digest (§22.3, 407) for new requests from
///    our users; the authenticated user must own the From AOR.
/// 8. `federation` — with `--federate`: a partner domain's Request-URI goes to its edge.
/// 9. `am-i-responsible` — §16.5: a Route left, or a foreign Request-URI, goes to the
///    Request-URI (relaying for foreign originators refused).
/// 10. `home-routing` — a request to a user of ours homed on another server goes there
///    (mutual TLS), with the originator in P-Asserted-Identity.
/// 11. `roaming` — LCS 2003 SERVICE requests (SOAP: contact list, access list, directory
///    search) to our domain or our users, when the presence service has a roaming agent.
/// 12. `presence` — SUBSCRIBE and PUBLISH to users homed here: the presence agent (RFC 3856,
///    RFC 3903; with a roaming agent, also LCS 2003's self-subscriptions), when presence is on.
/// 13. `location` — §16.5: 480 for an unknown user as for one with no binding (the answer does
///    not reveal who exists), else fork to every contact.
public struct HomeServerPolicy: RoutingPolicy {
    public let chain: StepChain

    /// - Parameters:
    ///   - identity: who this server is (its names, domains and listeners).
    ///   - registrar: the registrar the `local-server` step hands REGISTER to.
    ///   - location: the bindings the `location` step forks to.
    ///   - authenticator: nil when authentication is off (`--auth off`).
    ///   - presence: the presence agent; nil leaves SUBSCRIBE and PUBLISH to the
    ///     location step (proxied to the user's devices).
    ///   - peers: the known servers of the mesh (`--peer`), the trust domain.
    ///   - homes: which server each user is homed on; nil when every user is homed here.
    ///   - federations: partner domains and their edges (`--federate`).
    ///   - archive: the archive step (`--archive`); nil when archiving is off.
    public init(identity: ProxyIdentity, registrar: any RegistrarService, location: any LocationService,
                authenticator: (any RequestAuthenticator)?, presence: PresenceService? = nil,
                peers: PeerTable = PeerTable(), homes: (any HomeLookup)? = nil, federations: DomainRoutes = DomainRoutes(),
                archive: ArchiveStep? = nil) {
        let router = PeerRouter(peers: peers)
        var steps: [any RoutingStep] = [
            ValidateStep(identity: identity),
            RoutePreprocessStep(identity: identity),
            AssertedIdentityStep(peers: peers, distrusted: federations.serverNames),
        ]
        if !federations.isEmpty { steps.append(FederationGateStep(identity: identity, federations: federations, peers: peers)) }
        if let archive { steps.append(archive) }
        if let homes {
            steps.append(HomeRedirectStep(identity: identity, homes: homes, router: router, authenticator: authenticator))
        }
        if let presence { steps.append(PresenceDialogStep(identity: identity, presence: presence)) }
        steps.append(LocalServerStep(identity: identity, registrar: registrar,
                                     passedMethods: presence?.roaming == nil ? [] : ["SERVICE"]))
        if let authenticator { steps.append(AuthenticateStep(identity: identity, authenticator: authenticator)) }
        if !federations.isEmpty { steps.append(FederationRouteStep(federations: federations, router: router)) }
        steps.append(ResponsibilityStep(identity: identity, openRelay: authenticator == nil))
        if let homes { steps.append(HomeRoutingStep(identity: identity, homes: homes, router: router)) }
        if let presence {
            steps.append(RoamingStep(presence: presence))
            steps.append(PresenceStep(presence: presence))
        }
        steps.append(LocationStep(location: location))
        chain = StepChain(steps)
    }

    init(chain: StepChain) { self.chain = chain }

    /// The names of the steps, in order (for logs and tests).
    public var stepNames: [String] { chain.stepNames }

    /// The same policy with `steps` of a package user's own placed just before the built-in
    /// step named `stepName` (one of ``stepNames``); the built-in steps are unchanged.
    ///
    /// `"location"` is the usual place for a step about delivery to a user homed here: by
    /// then the request is validated, its originator authenticated (when authentication is
    /// on), and it is addressed to a user of ours whose devices the `location` step forks to.
    ///
    /// ```swift
    /// let policy = try HomeServerRole.homeServerPolicy(services)
    ///     .inserting([OutOfOfficeStep(...)], before: "location")
    /// ```
    /// - Throws: ``RolesError`` (`badConfiguration`) when no step has that name.
    public func inserting(_ steps: [any RoutingStep], before stepName: String) throws(RolesError) -> HomeServerPolicy {
        HomeServerPolicy(chain: try chain.inserting(steps, before: stepName))
    }

    public func decide(_ context: inout RoutingContext) -> RoutingDecision {
        chain.decide(&context)
    }
}
