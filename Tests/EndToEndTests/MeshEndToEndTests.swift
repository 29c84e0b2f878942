import Foundation
import Roles
import SIPTestSupport
import SIPCore
import Testing

/// The deployment of issue 9 over loopback with a test PKI: front-end FE, home servers HS1
/// (alice, carol) and HS2 (bob), forwarding proxy FP routing example.com to FE. Servers talk
/// mutual TLS; users speak UDP. HS1 also knows "hs3" at HS2's address, so a request for
/// dave (homed on hs3) meets a certificate for another name.
@Suite(.serialized) struct MeshEndToEndTests {
    @Test func imCrossesTheMeshAndSurvivesAHomeServerLoss() async throws {
        let pki = try MeshPKI()
        let fePort = try TestPorts.loopback(), hs1Port = try TestPorts.loopback()
        let hs2Port = try TestPorts.loopback(), fpPort = try TestPorts.loopback()
        let hs2 = try await MeshServer.start("hs2.example.test", tlsPort: hs2Port, pki: pki,
                                             peers: ["hs1.example.test": hs1Port, "fe.example.test": fePort],
                                             policy: HomeServerRole.policy)
        let hs1 = try await MeshServer.start("hs1.example.test", tlsPort: hs1Port, pki: pki,
                                             peers: ["hs2.example.test": hs2Port, "fe.example.test": fePort,
                                                     "hs3.example.test": hs2Port],
                                             policy: HomeServerRole.policy)
        // FE's directory is stale about erin: it says hs2, which redirects (301) to hs1.
        let fe = try await MeshServer.start("fe.example.test", tlsPort: fePort, pki: pki,
                                            peers: ["hs1.example.test": hs1Port, "hs2.example.test": hs2Port],
                                            homes: ["erin": "hs2.example.test"]) { s in
            FrontEndPolicy(identity: s.identity, authenticator: s.authenticator, homes: s.homes, peers: s.peers, mode: .proxy)
        }
        let fp = try await MeshServer.start("fp.example.test", tlsPort: fpPort, pki: pki,
                                            peers: ["fe.example.test": fePort]) { s in
            ForwardingProxyPolicy(identity: s.identity, routes: try DomainRoutes(["example.com=fe.example.test"], option: "route"),
                                  federations: DomainRoutes(), peers: s.peers)
        }

        // bob registers directly at HS2; alice through FE (FE challenges, HS1 trusts FE).
        let bob = try await TestUA(group: testEventLoops)
        let bobReg = try await bob.sendAuthenticated(to: hs2.udpPort, user: "bob", password: "pw-bob", method: "REGISTER",
                                                     uri: "sip:example.com") { cseq, auth in
            SIPText.register(user: "bob", domain: "example.com", uaPort: bob.port, cseq: cseq, callID: "reg-bob", authorization: auth)
        }
        #expect(bobReg?.statusCode == 200)
        let alice = try await TestUA(group: testEventLoops)
        let aliceReg = try await alice.sendAuthenticated(to: fe.udpPort, user: "alice", password: "pw-alice",
                                                         method: "REGISTER", uri: "sip:example.com") { cseq, auth in
            SIPText.register(user: "alice", domain: "example.com", uaPort: alice.port, cseq: cseq, callID: "reg-alice",
                             authorization: auth)
        }
        #expect(aliceReg?.statusCode == 200)

        // alice -> bob: FE (407, then alice's home HS1) -> HS2 -> bob; bob's 200 comes back.
        let sent = Task {
            try await alice.sendAuthenticated(to: fe.udpPort, user: "alice", password: "pw-alice", method: "MESSAGE",
                                              uri: "sip:bob@example.com") { cseq, auth in
                SIPText.message(from: "alice", to: "bob", domain: "example.com", uaPort: alice.port, cseq: cseq,
                                callID: "im-a2b", body: "hello bob", proxyAuthorization: auth)
            }
        }
        let atBob = try #require(await bob.request())
        #expect(atBob.method == .message)
        #expect(String(decoding: atBob.body, as: UTF8.self) == "hello bob")
        #expect(atBob.headers.first("P-Asserted-Identity")?.contains("alice@example.com") == true)
        #expect(try atBob.vias.count == 4)  // alice, FE, HS1, HS2
        try await bob.answer(atBob, 200, to: hs2.udpPort)
        #expect(try await sent.value?.statusCode == 200)

        // bob -> alice: HS2 (407) -> HS1 (alice's home) -> FE (her Path) -> alice.
        let reply = Task {
            try await bob.sendAuthenticated(to: hs2.udpPort, user: "bob", password: "pw-bob", method: "MESSAGE",
                                            uri: "sip:alice@example.com") { cseq, auth in
                SIPText.message(from: "bob", to: "alice", domain: "example.com", uaPort: bob.port, cseq: cseq,
                                callID: "im-b2a", body: "hi alice", proxyAuthorization: auth)
            }
        }
        let atAlice = try #require(await alice.request())
        #expect(String(decoding: atAlice.body, as: UTF8.self) == "hi alice")
        #expect(try atAlice.vias.count == 4)  // bob, HS2, HS1, FE
        try await alice.answer(atAlice, 200, to: fe.udpPort)
        #expect(try await reply.value?.statusCode == 200)

        // A REGISTER for bob at HS1: challenged like any (no hint where bob is homed), then,
        // authenticated as bob, 301 to HS2.
        let stray = try await TestUA(group: testEventLoops)
        try await stray.send(SIPText.register(user: "bob", domain: "example.com", uaPort: stray.port, cseq: 1,
                                              callID: "reg-bob-at-hs1-probe"), to: hs1.udpPort)
        let probed = try #require(await stray.response())
        #expect(probed.statusCode == 401)
        #expect(probed.headers.first("Contact") == nil)
        let moved = try #require(try await stray.sendAuthenticated(to: hs1.udpPort, user: "bob", password: "pw-bob",
                                                                   method: "REGISTER", uri: "sip:example.com") { cseq, auth in
            SIPText.register(user: "bob", domain: "example.com", uaPort: stray.port, cseq: cseq,
                             callID: "reg-bob-at-hs1", authorization: auth)
        })
        #expect(moved.statusCode == 301)
        #expect(moved.headers.first("Contact")?.contains(":\(hs2Port);transport=tls") == true)

        // carol, behind FP, registers (FP -> FE -> HS1, two Paths) and reaches alice.
        let carol = try await TestUA(group: testEventLoops)
        let carolReg = try await carol.sendAuthenticated(to: fp.udpPort, user: "carol", password: "pw-carol",
                                                         method: "REGISTER", uri: "sip:example.com") { cseq, auth in
            SIPText.register(user: "carol", domain: "example.com", uaPort: carol.port, cseq: cseq, callID: "reg-carol",
                             authorization: auth)
        }
        #expect(carolReg?.statusCode == 200)
        let fromCarol = Task {
            try await carol.sendAuthenticated(to: fp.udpPort, user: "carol", password: "pw-carol", method: "MESSAGE",
                                              uri: "sip:alice@example.com") { cseq, auth in
                SIPText.message(from: "carol", to: "alice", domain: "example.com", uaPort: carol.port, cseq: cseq,
                                callID: "im-c2a", body: "from behind the edge", proxyAuthorization: auth)
            }
        }
        let carolAtAlice = try #require(await alice.request())
        #expect(String(decoding: carolAtAlice.body, as: UTF8.self) == "from behind the edge")
        try await alice.answer(carolAtAlice, 200, to: fe.udpPort)
        #expect(try await fromCarol.value?.statusCode == 200)

        // erin registers through FE, whose directory sends her to HS2: HS2's 301 is followed
        // (§16.7 step 4) and HS1 registers her; bob reaches her there.
        let erin = try await TestUA(group: testEventLoops)
        let erinReg = try await erin.sendAuthenticated(to: fe.udpPort, user: "erin", password: "pw-erin",
                                                       method: "REGISTER", uri: "sip:example.com") { cseq, auth in
            SIPText.register(user: "erin", domain: "example.com", uaPort: erin.port, cseq: cseq, callID: "reg-erin",
                             authorization: auth)
        }
        #expect(erinReg?.statusCode == 200)
        let toErin = Task {
            try await bob.sendAuthenticated(to: hs2.udpPort, user: "bob", password: "pw-bob", method: "MESSAGE",
                                            uri: "sip:erin@example.com") { cseq, auth in
                SIPText.message(from: "bob", to: "erin", domain: "example.com", uaPort: bob.port, cseq: cseq,
                                callID: "im-b2e", body: "found you", proxyAuthorization: auth)
            }
        }
        let atErin = try #require(await erin.request())
        #expect(String(decoding: atErin.body, as: UTF8.self) == "found you")
        try await erin.answer(atErin, 200, to: fe.udpPort)
        #expect(try await toErin.value?.statusCode == 200)
        await erin.close()

        // dave is homed on "hs3", whose address presents hs2's certificate: refused.
        let toDave = try await alice.sendAuthenticated(to: fe.udpPort, user: "alice", password: "pw-alice",
                                                       method: "MESSAGE", uri: "sip:dave@example.com") { cseq, auth in
            SIPText.message(from: "alice", to: "dave", domain: "example.com", uaPort: alice.port, cseq: cseq,
                            callID: "im-a2d", body: "?", proxyAuthorization: auth)
        }
        #expect(toDave.map { $0.statusCode >= 500 } == true)

        // HS2 goes away: HS1's users still register and message each other.
        await hs2.stop()
        let again = try await alice.sendAuthenticated(to: fe.udpPort, user: "alice", password: "pw-alice",
                                                      method: "REGISTER", uri: "sip:example.com") { cseq, auth in
            SIPText.register(user: "alice", domain: "example.com", uaPort: alice.port, cseq: cseq + 10,
                             callID: "reg-alice", authorization: auth)
        }
        #expect(again?.statusCode == 200)
        let toCarol = Task {
            try await alice.sendAuthenticated(to: fe.udpPort, user: "alice", password: "pw-alice", method: "MESSAGE",
                                              uri: "sip:carol@example.com") { cseq, auth in
                SIPText.message(from: "alice", to: "carol", domain: "example.com", uaPort: alice.port, cseq: cseq,
                                callID: "im-a2c", body: "still here", proxyAuthorization: auth)
            }
        }
        let atCarol = try #require(await carol.request())
        #expect(String(decoding: atCarol.body, as: UTF8.self) == "still here")
        try await carol.answer(atCarol, 200, to: fp.udpPort)
        #expect(try await toCarol.value?.statusCode == 200)

        for ua in [alice, bob, carol, stray] { await ua.close() }
        for server in [fp, fe, hs1] { await server.stop() }
    }

    /// RFC 3263 between home servers: HS1 does not know hs2 as a --peer; a real dnsmasq
    /// serves `_sips._tcp.hs2.example.test` with a dead target at priority 0 and HS2 at
    /// priority 1. alice's MESSAGE to bob (homed on hs2) fails over to HS2 and arrives, HS2's
    /// certificate checked against the name looked up.
    @Test func homeServerFindsAnUnlistedPeerByDNSAndFailsOver() async throws {
        let pki = try MeshPKI()
        let hs1Port = try TestPorts.loopback(), hs2Port = try TestPorts.loopback(), deadPort = try TestPorts.loopback()
        let dnsmasq = try await DNSMasq.start(domains: ["example.test"], records: [
            "--srv-host=_sips._tcp.hs2.example.test,dead.example.test,\(deadPort),0,10",
            "--srv-host=_sips._tcp.hs2.example.test,hs2.example.test,\(hs2Port),1,10",
            "--host-record=dead.example.test,127.0.0.1",
            "--host-record=hs2.example.test,127.0.0.1",
        ])
        defer { dnsmasq.stop() }
        let hs2 = try await MeshServer.start("hs2.example.test", tlsPort: hs2Port, pki: pki,
                                             peers: ["hs1.example.test": hs1Port], policy: HomeServerRole.policy)
        let hs1 = try await MeshServer.start("hs1.example.test", tlsPort: hs1Port, pki: pki, peers: [:],
                                             settings: [("dns-server", "127.0.0.1:\(dnsmasq.port)")],
                                             policy: HomeServerRole.policy)
        let bob = try await TestUA(group: testEventLoops)
        let registered = try await bob.sendAuthenticated(to: hs2.udpPort, user: "bob", password: "pw-bob", method: "REGISTER",
                                                         uri: "sip:example.com") { cseq, auth in
            SIPText.register(user: "bob", domain: "example.com", uaPort: bob.port, cseq: cseq, callID: "reg-bob-dns",
                             authorization: auth)
        }
        #expect(registered?.statusCode == 200)
        let alice = try await TestUA(group: testEventLoops)
        let sent = Task {
            try await alice.sendAuthenticated(to: hs1.udpPort, user: "alice", password: "pw-alice", method: "MESSAGE",
                                              uri: "sip:bob@example.com") { cseq, auth in
                SIPText.message(from: "alice", to: "bob", domain: "example.com", uaPort: alice.port, cseq: cseq,
                                callID: "im-dns", body: "found by SRV", proxyAuthorization: auth)
            }
        }
        let atBob = try #require(await bob.request())
        #expect(String(decoding: atBob.body, as: UTF8.self) == "found by SRV")
        #expect(atBob.headers.first("P-Asserted-Identity")?.contains("alice@example.com") == true)  // HS2 trusts HS1
        try await bob.answer(atBob, 200, to: hs2.udpPort)
        #expect(try await sent.value?.statusCode == 200)
        await alice.close()
        await bob.close()
        await hs1.stop()
        await hs2.stop()
    }
}
