import SIPCore
import SIPTransaction
import Testing
@testable import Roles

struct FakeHomes: HomeLookup {
    var homes: [String: String]
    func homeServer(of aor: String) -> String? { homes[aor] }
}

/// The mesh steps' decisions: trust only from a peer's verified certificate, flow tokens that
/// cannot be forged, 301 for users homed elsewhere, static routes and federation.
@Suite struct MeshPolicyTests {
    let peers = PeerTable([PeerServer(spec: "fe.example.test=tls:192.0.2.20:5061")!,
                           PeerServer(spec: "hs2.example.test=tls:192.0.2.22:5061")!])
    let homes = FakeHomes(homes: ["alice@example.com": "proxy.example.com", "bob@example.com": "hs2.example.test"])

    func message(to user: String = "bob", from: String = "alice", extra: String = "") throws -> SIPRequest {
        try request("""
        MESSAGE sip:\(user)@example.com SIP/2.0
        Via: SIP/2.0/TLS 192.0.2.20:5061;branch=z9hG4bKmesh1
        Max-Forwards: 70
        From: <sip:\(from)@example.com>;tag=f1
        To: <sip:\(user)@example.com>
        Call-ID: mesh-1
        CSeq: 1 MESSAGE
        \(extra)Content-Length: 0


        """)
    }

    func home(auth: Bool = true) -> HomeServerPolicy {
        HomeServerPolicy(identity: identity, registrar: FakeRegistrar(), location: FakeLocation(table: [:]),
                         authenticator: auth ? FakeAuthenticator() : nil, peers: peers, homes: homes)
    }

    @Test func assertedIdentityIsBelievedOnlyFromAPeerCertificate() throws {
        let forged = try message(to: "carol", extra: "P-Asserted-Identity: <sip:alice@example.com>\n")
        // Over TLS with a CA-verified certificate for a name that is no peer: stripped, challenged.
        var context = RoutingContext(request: forged, source: RequestSource(transport: .tls, host: "192.0.2.66", port: 5061,
                                                                            tlsPeerNames: ["evil.example.test"]))
        if case .answerLocally(let r) = home().decide(&context) { #expect(r.statusCode == 407) } else { Issue.record("not challenged") }
        #expect(context.request.headers.first("P-Asserted-Identity") == nil)
        #expect(context.trustedPeer == nil)
        // The same bytes over UDP from the peer's own address: still nothing.
        context = RoutingContext(request: forged, source: RequestSource(transport: .udp, host: "192.0.2.20", port: 5061))
        if case .answerLocally(let r) = home().decide(&context) { #expect(r.statusCode == 407) } else { Issue.record("not challenged") }
        // From the front-end's certificate: believed, not challenged.
        context = RoutingContext(request: forged, source: RequestSource(transport: .tls, host: "192.0.2.20", port: 40000,
                                                                       tlsPeerNames: ["FE.example.test"]))
        _ = home().decide(&context)
        #expect(context.trustedPeer == "fe.example.test")
        #expect(context.authenticatedUser == "alice@example.com")
    }

    @Test func requestForAUserHomedElsewhereGoesToThatPeerWithAssertedIdentity() throws {
        var context = RoutingContext(request: try message(extra: "Proxy-Authorization: alice@example.com\n"),
                                     source: RequestSource(transport: .udp, host: "198.51.100.1", port: 5060))
        guard case .forward(let plan) = home().decide(&context) else { Issue.record("not forwarded"); return }
        let target = try #require(plan.targets.first)
        #expect(target.destination?.host == "192.0.2.22")
        #expect(target.destination?.transport == .tls)
        #expect(target.destination?.tlsServerName == "hs2.example.test")
        #expect(plan.request.headers.first("P-Asserted-Identity") == "<sip:alice@example.com>")
    }

    @Test func registerForAUserHomedElsewhereIs301() throws {
        let register = try request("""
        REGISTER sip:example.com SIP/2.0
        Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKreg
        Max-Forwards: 70
        From: <sip:bob@example.com>;tag=r
        To: <sip:bob@example.com>
        Call-ID: reg-1
        CSeq: 1 REGISTER
        Contact: <sip:bob@198.51.100.1>
        Content-Length: 0


        """)
        let source = RequestSource(transport: .udp, host: "198.51.100.1", port: 5060)
        // Without credentials: challenged like anyone, so a prober learns neither who exists
        // nor where they are homed.
        var context = RoutingContext(request: register, source: source)
        guard case .answerLocally(let challenge) = home().decide(&context) else { Issue.record("not challenged"); return }
        #expect(challenge.statusCode == 407)  // the fake authenticator's challenge
        // Authenticated as bob: 301 to bob's home.
        var answered = register
        answered.headers.append("Proxy-Authorization", "bob@example.com")
        context = RoutingContext(request: answered, source: source)
        guard case .respond(let answer) = home().decide(&context) else { Issue.record("not answered"); return }
        #expect(answer.status == 301)
        #expect(answer.headers.first?.value == "<sip:192.0.2.22:5061;transport=tls>")
        // Authenticated as someone else: no redirect for bob.
        var other = register
        other.headers.append("Proxy-Authorization", "alice@example.com")
        context = RoutingContext(request: other, source: source)
        guard case .respond(let refused) = home().decide(&context) else { Issue.record("not refused"); return }
        #expect(refused.status == 403)
        // Authentication off (labs): redirected at once.
        context = RoutingContext(request: register, source: source)
        guard case .respond(let open) = home(auth: false).decide(&context) else { Issue.record("not answered"); return }
        #expect(open.status == 301)
    }

    @Test func flowTokensRoundTripAndCannotBeForged() throws {
        let flow = FlowRouteToken.Flow(transport: .tcp, host: "198.51.100.7", port: 40123, connectionID: 99)
        let token = FlowRouteToken.make(flow)
        #expect(FlowRouteToken.verify(token) == flow)
        var tampered = Array(token)
        tampered[4] = tampered[4] == "a" ? "b" : "a"
        #expect(FlowRouteToken.verify(String(tampered)) == nil)
        #expect(FlowRouteToken.verify("f-00-00") == nil)
        #expect(FlowRouteToken.verify(String(repeating: "f", count: 1000)) == nil)
    }

    @Test func forwardingProxyRoutesByOriginatorDomainAndRefusesForgedRoutes() throws {
        let fp = ForwardingProxyPolicy(identity: identity, routes: try DomainRoutes(["example.com=fe.example.test"], option: "route"),
                                       federations: DomainRoutes(), peers: peers)
        #expect(fp.stepNames == ["validate", "route-preprocess", "asserted-identity", "follow-flow", "local-server",
                                 "follow-route", "static-route"])
        let udp = RequestSource(transport: .udp, host: "198.51.100.1", port: 5060)
        var context = RoutingContext(request: try message(), source: udp)
        guard case .forward(let plan) = fp.decide(&context) else { Issue.record("not forwarded"); return }
        #expect(plan.targets.first?.destination?.tlsServerName == "fe.example.test")
        // Another originator domain, no default: 404.
        var other = try message()
        other.headers.replace("From", with: "<sip:mallory@elsewhere.test>;tag=m")
        context = RoutingContext(request: other, source: udp)
        #expect(fp.decide(&context) == .respond(StatusAnswer(404, "No Route")))
        // A Route written by the sender (no dialog token, no peer): 403.
        context = RoutingContext(request: try message(extra: "Route: <sip:203.0.113.9;lr>\n"), source: udp)
        #expect(fp.decide(&context) == .respond(StatusAnswer(403, "Relaying Denied")))
        // A Route naming us with a forged flow token: still not followed.
        context = RoutingContext(request: try message(extra: "Route: <sip:f-7463707c317c327c33-000000000000000000000000@192.0.2.10:5060;lr>\n"),
                                 source: udp)
        if case .forward(let p) = fp.decide(&context) { #expect(p.targets.first?.destination?.host != "1") }
        #expect(context.routeFlow == nil)
    }

    @Test func federationRefusesUntrustedDomainsAndChecksThePartnersCertificate() throws {
        let fp = ForwardingProxyPolicy(identity: identity, routes: try DomainRoutes(["example.com=fe.example.test"], option: "route"),
                                       federations: try DomainRoutes(["partner.test=edge.partner.test"], option: "federate"),
                                       peers: peers)
        var toPartner = try message()
        toPartner.uri = URI("sip:pat@partner.test")!
        var context = RoutingContext(request: toPartner, source: RequestSource(transport: .udp, host: "198.51.100.1", port: 5060))
        guard case .forward(let plan) = fp.decide(&context) else { Issue.record("not forwarded"); return }
        #expect(plan.targets.first?.destination?.tlsServerName == "edge.partner.test")

        var fromPartner = try message()
        fromPartner.headers.replace("From", with: "<sip:pat@partner.test>;tag=p")
        context = RoutingContext(request: fromPartner, source: RequestSource(transport: .tls, host: "203.0.113.5", port: 5061,
                                                                            tlsPeerNames: ["edge.partner.test"]))
        guard case .forward(let inbound) = fp.decide(&context) else { Issue.record("partner refused"); return }
        #expect(inbound.targets.first?.destination?.tlsServerName == "fe.example.test")
        // The partner's certificate vouches for pat: asserted to our peers.
        #expect(inbound.request.headers.first("P-Asserted-Identity") == "<sip:pat@partner.test>")
        // The same From over plain UDP, or from another certificate: 403.
        context = RoutingContext(request: fromPartner, source: RequestSource(transport: .udp, host: "203.0.113.5", port: 5060))
        #expect(fp.decide(&context) == .respond(StatusAnswer(403, "Untrusted Domain")))
        var stranger = try message()
        stranger.headers.replace("From", with: "<sip:x@stranger.test>;tag=s")
        context = RoutingContext(request: stranger, source: RequestSource(transport: .udp, host: "203.0.113.6", port: 5060))
        #expect(fp.decide(&context) == .respond(StatusAnswer(403, "Untrusted Domain")))
    }

    /// A home server with `--federate`, reached directly: a partner's users only from the
    /// partner's edge certificate or through our own peers; other foreign domains never.
    @Test func homeServerWithFederationRefusesForeignOriginatorsReachingItDirectly() throws {
        let withPartner = PeerTable([PeerServer(spec: "fp.example.test=tls:192.0.2.30:5061")!])
        let policy = HomeServerPolicy(identity: identity, registrar: FakeRegistrar(),
                                      location: FakeLocation(table: ["carol@example.com": .noBindings]),
                                      authenticator: FakeAuthenticator(), peers: withPartner,
                                      federations: try DomainRoutes(["partner.test=edge.partner.test"], option: "federate"))
        func decide(from: String, _ source: RequestSource) throws -> RoutingDecision {
            var request = try message(to: "carol")
            request.headers.replace("From", with: "<sip:\(from)>;tag=x")
            var context = RoutingContext(request: request, source: source)
            return policy.decide(&context)
        }
        let udp = RequestSource(transport: .udp, host: "203.0.113.9", port: 5060)
        let refused = RoutingDecision.respond(StatusAnswer(403, "Untrusted Domain"))
        #expect(try decide(from: "pat@partner.test", udp) == refused)
        #expect(try decide(from: "x@stranger.test", udp) == refused)
        let otherCertificate = RequestSource(transport: .tls, host: "203.0.113.9", port: 5061, tlsPeerNames: ["evil.partner.test"])
        #expect(try decide(from: "pat@partner.test", otherCertificate) == refused)
        // The partner's edge itself, or our forwarding proxy (a peer): on to the location step.
        let edge = RequestSource(transport: .tls, host: "203.0.113.5", port: 5061, tlsPeerNames: ["edge.partner.test"])
        #expect(try decide(from: "pat@partner.test", edge) != refused)
        let ourEdge = RequestSource(transport: .tls, host: "192.0.2.30", port: 40000, tlsPeerNames: ["fp.example.test"])
        #expect(try decide(from: "pat@partner.test", ourEdge) != refused)
        // Our own users are not the gate's business (they are authenticated).
        if case .answerLocally(let r) = try decide(from: "alice@example.com", udp) { #expect(r.statusCode == 407) }
        else { Issue.record("our user not challenged") }
    }

    /// A partner's edge is reachable like a peer but outside the trust domain: its
    /// P-Asserted-Identity (here claiming one of our users) is removed and the request
    /// challenged; a peer's request without the header is challenged too.
    @Test func partnerEdgesAndPeersWithoutAssertionAreNotTrusted() throws {
        let withPartner = PeerTable([PeerServer(spec: "edge.partner.test=tls:203.0.113.5:5061")!,
                                     PeerServer(spec: "fe.example.test=tls:192.0.2.20:5061")!])
        let policy = HomeServerPolicy(identity: identity, registrar: FakeRegistrar(), location: FakeLocation(table: [:]),
                                      authenticator: FakeAuthenticator(), peers: withPartner, homes: homes,
                                      federations: try DomainRoutes(["partner.test=edge.partner.test"], option: "federate"))
        let forged = try message(to: "carol", extra: "P-Asserted-Identity: <sip:alice@example.com>\n")
        var context = RoutingContext(request: forged, source: RequestSource(transport: .tls, host: "203.0.113.5", port: 5061,
                                                                            tlsPeerNames: ["edge.partner.test"]))
        if case .answerLocally(let r) = policy.decide(&context) { #expect(r.statusCode == 407) } else { Issue.record("not challenged") }
        #expect(context.authenticatedUser == nil)
        context = RoutingContext(request: try message(to: "carol"), source: RequestSource(
            transport: .tls, host: "192.0.2.20", port: 40000, tlsPeerNames: ["fe.example.test"]))
        if case .answerLocally(let r) = policy.decide(&context) { #expect(r.statusCode == 407) } else { Issue.record("not challenged") }
    }

    @Test func frontEndProxiesToTheOriginatorsHomeOrRedirects() throws {
        let source = RequestSource(transport: .udp, host: "198.51.100.1", port: 5060)
        for mode in FrontEndMode.allCases {
            let fe = FrontEndPolicy(identity: identity, authenticator: FakeAuthenticator(), homes: homes, peers: peers, mode: mode)
            var context = RoutingContext(request: try message(from: "bob", extra: "Proxy-Authorization: bob@example.com\n"),
                                         source: source)
            switch (mode, fe.decide(&context)) {
            case (.proxy, .forward(let plan)):
                #expect(plan.targets.first?.destination?.tlsServerName == "hs2.example.test")  // bob's home, the originator's
                #expect(plan.request.headers.first("P-Asserted-Identity") == "<sip:bob@example.com>")
            case (.redirect, .redirect(let contacts)):
                #expect(contacts == ["<sip:192.0.2.22:5061;transport=tls>"])
            case (_, let other):
                Issue.record("unexpected \(other) in \(mode)")
            }
            // Unauthenticated: challenged first.
            context = RoutingContext(request: try message(), source: source)
            if case .answerLocally(let r) = fe.decide(&context) { #expect(r.statusCode == 407) } else { Issue.record("not challenged") }
        }
    }
}
