import SIPCore

/// The front-end's routing policy (ARCHITECTURE.md "Front-end server"): a home server that
/// homes nobody. It authenticates the originator against the directory, finds the
/// originator's home server and proxies there (or redirects, `--mode redirect`); requests
/// coming back for its clients follow the flow named in its Path.
///
/// Steps, in order:
/// 1. `validate` — RFC 3261 §16.3.
/// 2. `route-preprocess` — §16.4 (our own Route values removed; a flow token noted).
/// 2a. `archive` — with `--archive`: a MESSAGE this front-end forwards is archived first.
/// 3. `asserted-identity` — RFC 3325: believed from trusted peers only, removed otherwise.
/// 4. `follow-flow` — a request for a client behind us (our Path came back as its Route):
///    over that client's flow.
/// 5. `local-server` — OPTIONS to the server answered (REGISTER passes on: no registrar here).
/// 6. `authenticate` — digest (401 REGISTER, 407 otherwise) for our domains' originators.
/// 7. `home-lookup` — to the originator's home server (Path on REGISTER, P-Asserted-Identity),
///    or 302 there in redirect mode; a request from another domain to the target's home.
/// 8. `am-i-responsible` — a Route left (in our dialogs, or from an authenticated user) is
///    followed; relaying for anyone else refused (403).
public struct FrontEndPolicy: RoutingPolicy {
    public let chain: StepChain

    /// - Parameters:
    ///   - identity: who this server is (its names, domains and listeners).
    ///   - authenticator: nil when authentication is off (`--auth off`): the claimed
    ///     originator is believed, as in a closed lab.
    ///   - homes: which server each user is homed on (the directory).
    ///   - peers: the known servers of the mesh (`--peer`), the trust domain.
    ///   - mode: proxy to the originator's home server, or redirect the client there.
    ///   - federations: partner domains and their edges (`--federate`).
    ///   - archive: the archive step (`--archive`); nil when archiving is off.
    public init(identity: ProxyIdentity, authenticator: (any RequestAuthenticator)?, homes: any HomeLookup,
                peers: PeerTable, mode: FrontEndMode, federations: DomainRoutes = DomainRoutes(),
                archive: ArchiveStep? = nil) {
        var steps: [any RoutingStep] = [
            ValidateStep(identity: identity),
            RoutePreprocessStep(identity: identity),
        ]
        if let archive { steps.append(archive) }
        steps += [
            AssertedIdentityStep(peers: peers, distrusted: federations.serverNames),
            FederationGateStep(identity: identity, federations: federations, peers: peers),
            FollowFlowStep(),
            LocalServerStep(identity: identity, registrar: nil),
        ]
        if let authenticator { steps.append(OriginatorAuthenticateStep(identity: identity, authenticator: authenticator)) }
        steps.append(HomeLookupStep(identity: identity, homes: homes, router: PeerRouter(peers: peers), mode: mode,
                                    trustClaimedOriginator: authenticator == nil))
        steps.append(ResponsibilityStep(identity: identity, openRelay: authenticator == nil))
        chain = StepChain(steps)
    }

    public var stepNames: [String] { chain.steps.map(\.name) }

    public func decide(_ context: inout RoutingContext) -> RoutingDecision { chain.decide(&context) }
}
