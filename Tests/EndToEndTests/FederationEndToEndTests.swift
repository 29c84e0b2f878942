import Foundation
import Roles
import SIPCore
import SIPTestSupport
import Testing

/// Federation (`--federate`) over loopback with one test CA: our home server HS1 (alice,
/// example.com) and edge FP; the partner's edge PE and home server HP (pat, partner.test).
/// IM crosses both edges over mutual TLS both ways; a rogue edge with a certificate of the
/// same CA but another name, and a plain UDP sender claiming the partner's domain, get 403.
@Suite(.serialized) struct FederationEndToEndTests {
    static func message(from: String, to: String, uaPort: Int, cseq: Int, callID: String, body: String,
                        proxyAuthorization: String? = nil) -> String {
        """
        MESSAGE sip:\(to) SIP/2.0
        Via: SIP/2.0/UDP 127.0.0.1:\(uaPort);branch=z9hG4bK-fed-\(callID)-\(cseq);rport
        Max-Forwards: 70
        From: <sip:\(from)>;tag=fed-\(cseq)
        To: <sip:\(to)>
        Call-ID: \(callID)
        CSeq: \(cseq) MESSAGE
        Content-Type: text/plain
        \(proxyAuthorization.map { "Proxy-Authorization: \($0)\n" } ?? "")Content-Length: *

        \(body)
        """
    }

    @Test func imCrossesPartnerEdgesAndStrangersAreRefused() async throws {
        let pki = try MeshPKI()
        let hs1Port = try TestPorts.loopback(), fpPort = try TestPorts.loopback()
        let pePort = try TestPorts.loopback(), hpPort = try TestPorts.loopback(), roguePort = try TestPorts.loopback()
        let ours = [("alice", "pw-alice", "hs1.example.test")]
        let theirs = [("pat", "pw-pat", "hp.partner.test")]
        let hs1 = try await MeshServer.start("hs1.example.test", tlsPort: hs1Port, pki: pki, peers: ["fp.example.test": fpPort],
                                             users: ours, settings: [("federate", "partner.test=fp.example.test")],
                                             policy: HomeServerRole.policy)
        let fp = try await MeshServer.start("fp.example.test", tlsPort: fpPort, pki: pki,
                                            peers: ["hs1.example.test": hs1Port, "edge.partner.test": pePort],
                                            users: ours, settings: [("federate", "partner.test=edge.partner.test")]) { s in
            ForwardingProxyPolicy(identity: s.identity, routes: try DomainRoutes(["example.com=hs1.example.test"], option: "route"),
                                  federations: s.settings.federations, peers: s.peers)
        }
        let pe = try await MeshServer.start("edge.partner.test", tlsPort: pePort, pki: pki,
                                            peers: ["fp.example.test": fpPort, "hp.partner.test": hpPort],
                                            domain: "partner.test", users: theirs,
                                            settings: [("federate", "example.com=fp.example.test")]) { s in
            ForwardingProxyPolicy(identity: s.identity, routes: try DomainRoutes(["partner.test=hp.partner.test"], option: "route"),
                                  federations: s.settings.federations, peers: s.peers)
        }
        let hp = try await MeshServer.start("hp.partner.test", tlsPort: hpPort, pki: pki, peers: ["edge.partner.test": pePort],
                                            domain: "partner.test", users: theirs,
                                            settings: [("federate", "example.com=edge.partner.test")],
                                            policy: HomeServerRole.policy)
        let rogue = try await MeshServer.start("rogue.partner.test", tlsPort: roguePort, pki: pki,
                                               peers: ["fp.example.test": fpPort], domain: "partner.test", users: []) { s in
            ForwardingProxyPolicy(identity: s.identity, routes: try DomainRoutes(["*=fp.example.test"], option: "route"),
                                  federations: DomainRoutes(), peers: s.peers)
        }

        func register(_ ua: TestUA, _ user: String, _ password: String, domain: String, at port: Int) async throws -> Int? {
            try await ua.sendAuthenticated(to: port, user: user, password: password, method: "REGISTER",
                                           uri: "sip:\(domain)") { cseq, auth in
                SIPText.register(user: user, domain: domain, uaPort: ua.port, cseq: cseq, callID: "reg-\(user)",
                                 authorization: auth)
            }?.statusCode
        }
        let alice = try await TestUA(group: testEventLoops)
        let pat = try await TestUA(group: testEventLoops)
        #expect(try await register(alice, "alice", "pw-alice", domain: "example.com", at: hs1.udpPort) == 200)
        #expect(try await register(pat, "pat", "pw-pat", domain: "partner.test", at: hp.udpPort) == 200)

        // alice -> pat: HS1 (407) -> FP -> PE -> HP -> pat, and pat's 200 back.
        let out = Task {
            try await alice.sendAuthenticated(to: hs1.udpPort, user: "alice", password: "pw-alice", method: "MESSAGE",
                                              uri: "sip:pat@partner.test") { cseq, auth in
                Self.message(from: "alice@example.com", to: "pat@partner.test", uaPort: alice.port, cseq: cseq,
                             callID: "fed-a2p", body: "hello partner", proxyAuthorization: auth)
            }
        }
        let atPat = try #require(await pat.request())
        #expect(String(decoding: atPat.body, as: UTF8.self) == "hello partner")
        #expect(try atPat.vias.count == 5)  // alice, HS1, FP, PE, HP
        #expect(atPat.headers.first("P-Asserted-Identity") == nil)  // never asserted across the boundary
        try await pat.answer(atPat, 200, to: hp.udpPort)
        #expect(try await out.value?.statusCode == 200)

        // pat -> alice: HP (407) -> PE -> FP (checks PE's certificate) -> HS1 -> alice.
        let back = Task {
            try await pat.sendAuthenticated(to: hp.udpPort, user: "pat", password: "pw-pat", method: "MESSAGE",
                                            uri: "sip:alice@example.com") { cseq, auth in
                Self.message(from: "pat@partner.test", to: "alice@example.com", uaPort: pat.port, cseq: cseq,
                             callID: "fed-p2a", body: "hello back", proxyAuthorization: auth)
            }
        }
        let atAlice = try #require(await alice.request())
        #expect(String(decoding: atAlice.body, as: UTF8.self) == "hello back")
        try await alice.answer(atAlice, 200, to: hs1.udpPort)
        #expect(try await back.value?.statusCode == 200)

        // The partner's domain claimed from a certificate for another name, or over plain UDP: 403.
        let stranger = try await TestUA(group: testEventLoops)
        try await stranger.send(Self.message(from: "pat@partner.test", to: "alice@example.com", uaPort: stranger.port,
                                             cseq: 1, callID: "fed-rogue", body: "trust me"), to: rogue.udpPort)
        #expect(await stranger.response()?.statusCode == 403)
        try await stranger.send(Self.message(from: "pat@partner.test", to: "alice@example.com", uaPort: stranger.port,
                                             cseq: 1, callID: "fed-udp", body: "trust me"), to: fp.udpPort)
        #expect(await stranger.response()?.statusCode == 403)
        // Straight to the home server, past the edge: the partner's domain, or any other, 403.
        try await stranger.send(Self.message(from: "pat@partner.test", to: "alice@example.com", uaPort: stranger.port,
                                             cseq: 1, callID: "fed-direct", body: "trust me"), to: hs1.udpPort)
        #expect(await stranger.response()?.statusCode == 403)
        try await stranger.send(Self.message(from: "eve@elsewhere.test", to: "alice@example.com", uaPort: stranger.port,
                                             cseq: 1, callID: "fed-direct-2", body: "trust me"), to: hs1.udpPort)
        #expect(await stranger.response()?.statusCode == 403)
        // Our own user's name claimed at the edge: FP routes it to HS1, which challenges it.
        try await stranger.send(Self.message(from: "alice@example.com", to: "alice@example.com", uaPort: stranger.port,
                                             cseq: 1, callID: "fed-spoof", body: "trust me"), to: fp.udpPort)
        #expect(await stranger.response()?.statusCode == 407)

        for ua in [alice, pat, stranger] { await ua.close() }
        for server in [rogue, hp, pe, fp, hs1] { await server.stop() }
    }
}
