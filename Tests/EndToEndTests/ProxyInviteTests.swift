import Foundation
import SIPCore
import Testing

/// A call through the stateful proxy: INVITE/180/200/ACK/BYE with Record-Route (RFC 3261
/// §16.6 step 4, §12.1), and CANCEL (§16.10).
@Suite(.serialized) struct ProxyInviteTests {
    static func invite(uaPort: Int, domain: String, callID: String, cseq: Int = 1, branch: String) -> String {
        """
        INVITE sip:bob@\(domain) SIP/2.0
        Via: SIP/2.0/UDP 127.0.0.1:\(uaPort);branch=\(branch);rport
        Max-Forwards: 70
        From: <sip:alice@\(domain)>;tag=alice-tag
        To: <sip:bob@\(domain)>
        Call-ID: \(callID)
        CSeq: \(cseq) INVITE
        Contact: <sip:alice@127.0.0.1:\(uaPort)>
        Content-Type: application/sdp
        Content-Length: *

        v=0
        o=alice 1 1 IN IP4 127.0.0.1
        s=-
        c=IN IP4 127.0.0.1
        t=0 0
        m=audio 49170 RTP/AVP 0

        """
    }

    /// Alice's CANCEL of her INVITE (same branch, §9.1).
    static func cancel(uaPort: Int, domain: String, callID: String, branch: String) -> String {
        """
        CANCEL sip:bob@\(domain) SIP/2.0
        Via: SIP/2.0/UDP 127.0.0.1:\(uaPort);branch=\(branch);rport
        Max-Forwards: 70
        From: <sip:alice@\(domain)>;tag=alice-tag
        To: <sip:bob@\(domain)>
        Call-ID: \(callID)
        CSeq: 1 CANCEL
        Content-Length: 0


        """
    }

    /// An in-dialog request from alice: Request-URI = bob's Contact, Route = the route set
    /// (Record-Route reversed; one proxy here), To with bob's tag (RFC 3261 §12.2.1.1).
    static func inDialog(_ method: String, target: String, routes: [String], uaPort: Int, domain: String,
                         callID: String, cseq: Int, toTag: String, branch: String) -> String {
        """
        \(method) \(target) SIP/2.0
        Via: SIP/2.0/UDP 127.0.0.1:\(uaPort);branch=\(branch);rport
        Max-Forwards: 70
        \(routes.map { "Route: \($0)\n" }.joined())From: <sip:alice@\(domain)>;tag=alice-tag
        To: <sip:bob@\(domain)>;tag=\(toTag)
        Call-ID: \(callID)
        CSeq: \(cseq) \(method)
        Content-Length: 0


        """
    }

    @Test func callThroughRecordRoute() async throws {
        let server = try await RunningHomeServer.start(auth: false, users: [("alice", "a", true), ("bob", "b", true)])
        let (bob, registered) = try await RegisteredUA.register("bob", password: "b", on: server, group: testEventLoops)
        #expect(registered?.statusCode == 200)
        let alice = try await TestUA(group: testEventLoops)
        let domain = server.domain

        try await alice.send(Self.invite(uaPort: alice.port, domain: domain, callID: "call-1", branch: "z9hG4bK-inv-1"),
                             to: server.udpPort)
        let invite = try #require(await bob.request())
        #expect(invite.method == .invite)
        let recordRoutes = invite.headers["Record-Route"]
        #expect(recordRoutes.count == 1)
        #expect(recordRoutes.first?.contains(";lr") == true)

        // 180 then 200, with Record-Route copied into the responses (§12.1.1).
        try await bob.answer(invite, 180, toTag: "bob-tag", extra: recordRoutes.map { ("Record-Route", $0) }, to: server.udpPort)
        #expect(await alice.response()?.statusCode == 180)
        try await bob.answer(invite, 200, toTag: "bob-tag",
                             extra: recordRoutes.map { ("Record-Route", $0) } + [("Contact", "<sip:bob@127.0.0.1:\(bob.port)>")],
                             to: server.udpPort)
        let ok = try #require(await alice.response())
        #expect(ok.statusCode == 200)
        let routeSet = ok.headers["Record-Route"].reversed().map { $0 }
        #expect(routeSet == recordRoutes)

        // ACK and BYE follow the route set through the proxy.
        let bobContact = "sip:bob@127.0.0.1:\(bob.port)"
        try await alice.send(Self.inDialog("ACK", target: bobContact, routes: routeSet, uaPort: alice.port, domain: domain,
                                           callID: "call-1", cseq: 1, toTag: "bob-tag", branch: "z9hG4bK-ack-1"),
                             to: server.udpPort)
        let ack = try #require(await bob.request())
        #expect(ack.method == .ack)
        #expect(ack.headers["Route"].isEmpty)  // the proxy removed its own Route value
        #expect(try ack.vias.count == 2)

        try await alice.send(Self.inDialog("BYE", target: bobContact, routes: routeSet, uaPort: alice.port, domain: domain,
                                           callID: "call-1", cseq: 2, toTag: "bob-tag", branch: "z9hG4bK-bye-1"),
                             to: server.udpPort)
        let bye = try #require(await bob.request())
        #expect(bye.method == .bye)
        #expect(bye.uri.sipURI?.port == bob.port)
        try await bob.answer(bye, 200, toTag: "bob-tag", to: server.udpPort)
        #expect(await alice.response()?.statusCode == 200)
        await alice.close()
        await bob.close()
        try await server.stop()
    }

    @Test func cancelEndsTheCallWith487() async throws {
        let server = try await RunningHomeServer.start(auth: false, users: [("alice", "a", true), ("bob", "b", true)])
        let (bob, _) = try await RegisteredUA.register("bob", password: "b", on: server, group: testEventLoops)
        let alice = try await TestUA(group: testEventLoops)
        let domain = server.domain
        try await alice.send(Self.invite(uaPort: alice.port, domain: domain, callID: "call-2", branch: "z9hG4bK-inv-2"),
                             to: server.udpPort)
        let invite = try #require(await bob.request())
        try await bob.answer(invite, 180, toTag: "bob-tag", to: server.udpPort)
        #expect(await alice.response()?.statusCode == 180)

        try await alice.send(Self.cancel(uaPort: alice.port, domain: domain, callID: "call-2", branch: "z9hG4bK-inv-2"),
                             to: server.udpPort)
        // Alice's CANCEL is answered by the proxy; bob gets the proxy's own CANCEL.
        #expect(await alice.response()?.statusCode == 200)
        let cancel = try #require(await bob.request())
        #expect(cancel.method == .cancel)
        #expect(try cancel.topVia?.branch == invite.topVia?.branch)
        try await bob.answer(cancel, 200, toTag: "bob-tag", to: server.udpPort)
        try await bob.answer(invite, 487, toTag: "bob-tag", to: server.udpPort)
        #expect(await alice.response()?.statusCode == 487)
        await alice.close()
        await bob.close()
        try await server.stop()
    }

    /// A CANCEL right behind its INVITE (same burst, before the branches exist) still
    /// cancels the downstream branch (§16.10): bob gets CANCEL, and alice's 487 is bob's.
    @Test func cancelRightBehindTheInviteReachesTheBranch() async throws {
        let server = try await RunningHomeServer.start(auth: false, users: [("alice", "a", true), ("bob", "b", true)])
        let (bob, _) = try await RegisteredUA.register("bob", password: "b", on: server, group: testEventLoops)
        let alice = try await TestUA(group: testEventLoops)
        let domain = server.domain
        try await alice.send(Self.invite(uaPort: alice.port, domain: domain, callID: "call-3", branch: "z9hG4bK-inv-3"),
                             to: server.udpPort)
        try await alice.send(Self.cancel(uaPort: alice.port, domain: domain, callID: "call-3", branch: "z9hG4bK-inv-3"),
                             to: server.udpPort)
        let invite = try #require(await bob.request())
        #expect(invite.method == .invite)
        try await bob.answer(invite, 180, toTag: "bob-tag", extra: [("X-From", "bob")], to: server.udpPort)
        let cancel = try #require(await bob.request())
        #expect(cancel.method == .cancel)
        try await bob.answer(cancel, 200, toTag: "bob-tag", to: server.udpPort)
        try await bob.answer(invite, 487, toTag: "bob-tag", extra: [("X-From", "bob")], to: server.udpPort)
        var statuses: [Int] = []
        var final: SIPResponse?
        while final == nil, let r = await alice.response() {
            statuses.append(r.statusCode)
            if (try? r.cseq)?.method == .invite, r.statusCode >= 200 { final = r }
        }
        #expect(final?.statusCode == 487)
        #expect(final?.headers.first("X-From") == "bob", "the 487 must be bob's, not one the proxy made up")
        await alice.close()
        await bob.close()
        try await server.stop()
    }
}
