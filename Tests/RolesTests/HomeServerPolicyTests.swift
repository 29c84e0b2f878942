import SIPCore
import SIPTransaction
import Testing
@testable import Roles

struct FakeLocation: LocationService {
    var table: [String: LocationResult]
    func lookup(user: String, domain: String) -> LocationResult {
        table["\(user)@\(domain)"] ?? .unknownUser
    }
}

struct FakeRegistrar: RegistrarService {
    let name = "fake-registrar"
    func serve(_ transaction: ServerTransaction, context: RoutingContext) {
        try? transaction.respond(200, headers: [("X-Registrar", "fake")])
    }
}

struct FakeAuthenticator: RequestAuthenticator {
    func authenticate(_ request: SIPRequest, source: RequestSource) -> AuthenticationOutcome {
        guard let credentials = request.headers.first("Proxy-Authorization") else {
            var challenge = SIPResponse(responding: request, statusCode: 407, toTag: "auth")
            challenge.headers.append("Proxy-Authenticate", "Digest realm=\"example.com\", nonce=\"n\"")
            return .answer(challenge)
        }
        return .authenticated(aor: credentials)  // the fake "proves" whatever it is told
    }
}

/// The home-server policy's decisions (RFC 3261 §16.3-§16.5), with fake local services.
@Suite struct HomeServerPolicyTests {
    let source = RequestSource(transport: .udp, host: "198.51.100.1", port: 5060)

    func policy(auth: Bool = false) -> HomeServerPolicy {
        HomeServerPolicy(
            identity: identity, registrar: FakeRegistrar(),
            location: FakeLocation(table: [
                "bob@example.com": .targets([ForwardTarget(uri: URI("sip:bob@10.0.0.2")!, q: 0.5),
                                             ForwardTarget(uri: URI("sip:bob@10.0.0.3")!, q: 1.0)]),
                "carol@example.com": .noBindings,
            ]),
            authenticator: auth ? FakeAuthenticator() : nil)
    }

    func decide(_ r: SIPRequest, auth: Bool = false) async -> RoutingDecision {
        var context = RoutingContext(request: r, source: source)
        return await policy(auth: auth).decide(&context)
    }

    func message(to uri: String, from: String = "sip:alice@example.com", extra: String = "") throws -> SIPRequest {
        try request("""
        MESSAGE \(uri) SIP/2.0
        Via: SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKm1
        Max-Forwards: 70
        From: <\(from)>;tag=1
        To: <\(uri)>
        Call-ID: m1
        CSeq: 1 MESSAGE
        \(extra)Content-Length: 0


        """)
    }

    @Test func stepsAreNamedInOrder() {
        #expect(policy(auth: true).stepNames == ["validate", "route-preprocess", "asserted-identity", "local-server",
                                                 "authenticate", "am-i-responsible", "location"])
        #expect(!policy(auth: false).stepNames.contains("authenticate"))
    }

    /// The same answer as for a known user without a binding: an unauthenticated outsider
    /// must not learn which users exist.
    @Test func unknownUserIs480() async throws {
        #expect(await decide(try message(to: "sip:nobody@example.com")) == .respond(StatusAnswer(480)))
    }

    @Test func knownUserWithoutBindingIs480() async throws {
        #expect(await decide(try message(to: "sip:carol@example.com")) == .respond(StatusAnswer(480)))
    }

    @Test func forksToEveryContactHighestQFirst() async throws {
        guard case .forward(let plan) = await decide(try message(to: "sip:bob@example.com")) else {
            Issue.record("expected forward"); return
        }
        #expect(plan.targets.map(\.uri.description) == ["sip:bob@10.0.0.3", "sip:bob@10.0.0.2"])
        #expect(!plan.recordRoute)
    }

    @Test func inviteIsRecordRouted() async throws {
        guard case .forward(let plan) = await decide(try invite()) else { Issue.record("expected forward"); return }
        #expect(plan.recordRoute)
    }

    @Test func registerGoesToTheRegistrar() async throws {
        let r = try request("""
        REGISTER sip:example.com SIP/2.0
        Via: SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKr1
        Max-Forwards: 70
        From: <sip:bob@example.com>;tag=1
        To: <sip:bob@example.com>
        Call-ID: r1
        CSeq: 1 REGISTER
        Contact: <sip:bob@10.0.0.2>
        Content-Length: 0


        """)
        guard case .localService(let service) = await decide(r) else { Issue.record("expected the registrar"); return }
        #expect(service.name == "fake-registrar")
    }

    @Test func optionsToTheServerIsAnswered() async throws {
        let r = try request("""
        OPTIONS sip:example.com SIP/2.0
        Via: SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKo1
        Max-Forwards: 70
        From: <sip:alice@example.com>;tag=1
        To: <sip:example.com>
        Call-ID: o1
        CSeq: 1 OPTIONS
        Content-Length: 0


        """)
        guard case .answerLocally(let response) = await decide(r) else { Issue.record("expected local answer"); return }
        #expect(response.statusCode == 200)
        #expect(response.headers["Allow"].contains("MESSAGE"))
    }

    @Test func messageToTheServerItselfIs405() async throws {
        guard case .respond(let answer) = await decide(try message(to: "sip:example.com")) else {
            Issue.record("expected a status"); return
        }
        #expect(answer.status == 405)
    }

    @Test func ourUserIsChallengedThenForwarded() async throws {
        guard case .answerLocally(let challenge) = await decide(try message(to: "sip:bob@example.com"), auth: true) else {
            Issue.record("expected a challenge"); return
        }
        #expect(challenge.statusCode == 407)
        let authorised = try message(to: "sip:bob@example.com", extra: "Proxy-Authorization: alice@example.com\n")
        guard case .forward = await decide(authorised, auth: true) else { Issue.record("expected forward"); return }
        let impostor = try message(to: "sip:bob@example.com", extra: "Proxy-Authorization: mallory@example.com\n")
        #expect(await decide(impostor, auth: true) == .respond(StatusAnswer(403, "Identity Mismatch")))
    }

    @Test func foreignToForeignIsNotRelayedWithAuthOn() async throws {
        let r = try message(to: "sip:x@elsewhere.net", from: "sip:y@other.net")
        guard case .respond(let answer) = await decide(r, auth: true) else { Issue.record("expected refusal"); return }
        #expect(answer.status == 403)
    }

    @Test func inDialogRequestFollowsItsRoute() async throws {
        let bye = """
        BYE sip:bob@10.0.0.2:5070 SIP/2.0
        Via: SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKb1
        Max-Forwards: 70
        ROUTE
        From: <sip:alice@example.com>;tag=1
        To: <sip:bob@example.com>;tag=2
        Call-ID: c1
        CSeq: 2 BYE
        Content-Length: 0


        """
        // The token of the INVITE alice sent from this source to bob's device.
        let token = DialogRouteToken.make(for: try request(bye.replacing("ROUTE\n", with: "")),
                                          caller: SIPHostPort(host: source.host, port: source.port),
                                          callee: SIPHostPort(host: "10.0.0.2", port: 5070))
        let r = try request(bye.replacing("ROUTE", with: "Route: <sip:192.0.2.10:5060;lr;dlg=\(token)>"))
        guard case .forward(let plan) = await decide(r, auth: true) else { Issue.record("expected forward"); return }
        #expect(plan.targets.map(\.uri.description) == ["sip:bob@10.0.0.2:5070"])
        #expect(plan.request.headers["Route"].isEmpty)
        #expect(!plan.recordRoute)
    }

    /// The callee's side of a dialog: a server of another domain may answer over a stream
    /// connection of its own (another port of the host we sent to); one of our users must
    /// speak from the address we reached it at, and over UDP everybody must.
    @Test func aCalleeSpeaksFromTheAddressItWasReachedAt() async throws {
        func bye(from: String, fromTag: String, to: String, toTag: String, token: String?) throws -> SIPRequest {
            try request("""
            BYE sip:alice@198.51.100.1:5060 SIP/2.0
            Via: SIP/2.0/TCP 203.0.113.5;branch=z9hG4bKc1
            Max-Forwards: 70
            \(token.map { "Route: <sip:192.0.2.10:5060;lr;dlg=\($0)>\n" } ?? "")From: <\(from)>;tag=\(fromTag)
            To: <\(to)>;tag=\(toTag)
            Call-ID: c2
            CSeq: 9 BYE
            Content-Length: 0


            """)
        }
        func decide(_ r: SIPRequest, from source: RequestSource) async -> RoutingDecision {
            var context = RoutingContext(request: r, source: source)
            return await policy(auth: true).decide(&context)
        }
        let caller = SIPHostPort(host: source.host, port: source.port)
        // alice called carol of another domain, at 203.0.113.5:5060.
        let foreign = DialogRouteToken.make(
            for: try bye(from: "sip:alice@example.com", fromTag: "1", to: "sip:carol@partner.test", toTag: "x", token: nil),
            caller: caller, callee: SIPHostPort(host: "203.0.113.5", port: 5060))
        let carolsBye = try bye(from: "sip:carol@partner.test", fromTag: "2", to: "sip:alice@example.com", toTag: "1", token: foreign)
        let newConnection = RequestSource(transport: .tcp, host: "203.0.113.5", port: 40001)
        guard case .forward = await decide(carolsBye, from: newConnection) else { Issue.record("the callee's server was refused"); return }
        let otherHost = RequestSource(transport: .tcp, host: "203.0.113.6", port: 5060)
        guard case .respond(let refused) = await decide(carolsBye, from: otherHost) else { Issue.record("expected a refusal"); return }
        #expect(refused.status == 403)
        let overUDP = RequestSource(transport: .udp, host: "203.0.113.5", port: 40001)
        guard case .respond = await decide(carolsBye, from: overUDP) else { Issue.record("expected a refusal over UDP"); return }
        // alice called bob, one of ours, at 10.0.0.2:5060: bob's side only from there.
        let local = DialogRouteToken.make(
            for: try bye(from: "sip:alice@example.com", fromTag: "1", to: "sip:bob@example.com", toTag: "x", token: nil),
            caller: caller, callee: SIPHostPort(host: "10.0.0.2", port: 5060))
        let bobsBye = try bye(from: "sip:bob@example.com", fromTag: "3", to: "sip:alice@example.com", toTag: "1", token: local)
        guard case .forward = await decide(bobsBye, from: RequestSource(transport: .udp, host: "10.0.0.2", port: 5060)) else {
            Issue.record("bob was refused at his own address"); return
        }
        guard case .answerLocally(let challenge) = await decide(bobsBye, from: RequestSource(transport: .tcp, host: "10.0.0.2", port: 40002)) else {
            Issue.record("expected a challenge"); return
        }
        #expect(challenge.statusCode == 407)
    }

    /// The callee's side of a dialog goes back toward the caller: to the hop the caller's
    /// side is reached through (its Contact, a private address behind a NAT, or a proxy's
    /// Record-Route, by name), or to the caller's host; never to a third host.
    @Test func aCalleeSpeaksOnlyTowardTheCaller() async throws {
        // alice, from 198.51.100.1:5060 (her NAT), calls carol of another domain at 203.0.113.5:5060.
        func token(_ extra: String) throws -> String {
            DialogRouteToken.make(for: try request("""
            INVITE sip:carol@partner.test SIP/2.0
            Via: SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKi3
            Max-Forwards: 70
            \(extra)From: <sip:alice@example.com>;tag=1
            To: <sip:carol@partner.test>
            Call-ID: c3
            CSeq: 1 INVITE
            Content-Length: 0


            """), caller: SIPHostPort(host: source.host, port: source.port), callee: SIPHostPort(host: "203.0.113.5", port: 5060))
        }
        func carolsBye(_ uri: String, token: String, then routes: [String] = []) async throws -> RoutingDecision {
            var context = RoutingContext(request: try request("""
            BYE \(uri) SIP/2.0
            Via: SIP/2.0/UDP 203.0.113.5;branch=z9hG4bKc3
            Max-Forwards: 70
            Route: <sip:192.0.2.10:5060;lr;dlg=\(token)>
            \(routes.map { "Route: \($0)\n" }.joined())From: <sip:carol@partner.test>;tag=2
            To: <sip:alice@example.com>;tag=1
            Call-ID: c3
            CSeq: 9 BYE
            Content-Length: 0


            """), source: RequestSource(transport: .udp, host: "203.0.113.5", port: 5060))
            return await policy(auth: true).decide(&context)
        }
        func isForwarded(_ decision: RoutingDecision) -> Bool { if case .forward = decision { true } else { false } }
        let natted = try token("Contact: <sip:alice@192.168.1.5:5060>\n")
        #expect(isForwarded(try await carolsBye("sip:alice@192.168.1.5:5060", token: natted)))  // her Contact
        #expect(isForwarded(try await carolsBye("sip:alice@198.51.100.1:5072", token: natted)))  // her host
        #expect(try await carolsBye("sip:x@203.0.113.99", token: natted) == .respond(StatusAnswer(403, "Relaying Denied")))
        #expect(try await carolsBye("sip:alice@192.168.1.5:5060", token: natted, then: ["<sip:203.0.113.99;lr>"])
                    == .respond(StatusAnswer(403, "Relaying Denied")))
        // alice behind a proxy of hers that record-routed by name.
        let proxied = try token("Record-Route: <sip:edge.example.net;lr>\nContact: <sip:alice@192.168.1.5:5060>\n")
        #expect(isForwarded(try await carolsBye("sip:alice@192.168.1.5:5060", token: proxied, then: ["<sip:edge.example.net;lr>"])))
        #expect(try await carolsBye("sip:alice@192.168.1.5:5060", token: proxied, then: ["<sip:edge.example.org;lr>"])
                    == .respond(StatusAnswer(403, "Relaying Denied")))
    }

    @Test func loopedRequestIs482() async throws {
        let original = try invite()
        let f = try #require(RequestForwarding.forward(original, to: ForwardTarget(uri: original.uri),
                                                       identity: identity, inbound: .udp, recordRoute: true,
                                                       loopHash: BranchParameter.loopHash(of: original),
                                                       seed: "s", fork: 0))
        var back = f.request
        back.uri = original.uri
        back.headers.removeAll("Record-Route")
        #expect(await decide(back) == .respond(StatusAnswer(482)))
    }
}
