import SIPCore

/// The forwarding proxy's routing policy (ARCHITECTURE.md "Forwarding proxy"): a relay only,
/// for the firewall edge or a remote office. No authentication, no registrar, no directory:
/// a static table picks the next hop from the originator's domain, and it always proxies.
///
/// Steps, in order:
/// 1. `validate` — RFC 3261 §16.3.
/// 2. `route-preprocess` — §16.4 (our own Route values removed; a flow token noted).
/// 2a. `archive` — with `--archive` (where the operator chooses): MESSAGEs relayed here
///    are archived first.
/// 3. `asserted-identity` — RFC 3325: believed from trusted peers only (never from a
///    partner's edge), removed otherwise.
/// 4. `follow-flow` — a request for a client registered through us (our Path came back).
/// 5. `local-server` — OPTIONS to the proxy itself answered.
/// 6. `follow-route` — a Route left: followed inside our dialogs or from a trusted peer,
///    else 403.
/// 7. `static-route` — federated partner domains (`--federate`), then `--route` by the
///    From domain (`*` the default; none: 404); Path on REGISTER.
public struct ForwardingProxyPolicy: RoutingPolicy {
    public let chain: StepChain

    public init(identity: ProxyIdentity, routes: DomainRoutes, federations: DomainRoutes, peers: PeerTable,
                archive: ArchiveStep? = nil) {
        chain = StepChain([
            ValidateStep(identity: identity),
            RoutePreprocessStep(identity: identity),
        ] + (archive.map { [$0] } ?? []) + [
            AssertedIdentityStep(peers: peers, distrusted: federations.serverNames),
            FollowFlowStep(),
            LocalServerStep(identity: identity, registrar: nil),
            FollowRouteStep(),
            StaticRouteStep(identity: identity, routes: routes, federations: federations,
                            router: PeerRouter(peers: peers)),
        ])
    }

    public var stepNames: [String] { chain.steps.map(\.name) }

    public func decide(_ context: inout RoutingContext) -> RoutingDecision { chain.decide(&context) }
}
