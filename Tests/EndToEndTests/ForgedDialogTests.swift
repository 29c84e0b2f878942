import Foundation
import SIPCore
import Testing

/// Attacks with nothing but a UDP socket on the in-dialog shortcut (issue 7): a To tag, or a
/// To tag with a Route naming the server, must not let a request skip authentication or the
/// relay check. Only a Route carrying the dialog token the server put in its Record-Route
/// does (RFC 3261 §12.2, §16.4).
@Suite(.serialized) struct ForgedDialogTests {
    static func message(from: String, fromDomain: String, uri: String, toTag: String?, route: String?, uaPort: Int,
                        callID: String) -> String {
        """
        MESSAGE \(uri) SIP/2.0
        Via: SIP/2.0/UDP 127.0.0.1:\(uaPort);branch=z9hG4bK-\(callID);rport
        Max-Forwards: 70
        \(route.map { "Route: \($0)\n" } ?? "")From: <sip:\(from)@\(fromDomain)>;tag=forged
        To: <sip:bob@example.com>\(toTag.map { ";tag=\($0)" } ?? "")
        Call-ID: \(callID)
        CSeq: 7 MESSAGE
        Content-Type: text/plain
        Content-Length: *

        I am alice, trust me
        """
    }

    @Test func forgedToTagFromOurUserIsChallengedNotDelivered() async throws {
        let server = try await RunningHomeServer.start(users: [("alice", "pw-a", true), ("bob", "pw-b", true)])
        let (bob, registered) = try await RegisteredUA.register("bob", password: "pw-b", on: server, group: testEventLoops)
        #expect(registered?.statusCode == 200)
        let attacker = try await TestUA(group: testEventLoops)
        let ownRoute = "<sip:127.0.0.1:\(server.udpPort);lr>"
        let forgedToken = "<sip:127.0.0.1:\(server.udpPort);lr;dlg=0123456789abcdef01234567>"
        for (index, route) in [nil, ownRoute, forgedToken].enumerated() {
            try await attacker.send(Self.message(from: "alice", fromDomain: "example.com", uri: "sip:bob@example.com",
                                                 toTag: "made-up", route: route, uaPort: attacker.port,
                                                 callID: "forged-\(index)"), to: server.udpPort)
            let answer = try #require(await attacker.response())
            #expect(answer.statusCode == 407, "route \(route ?? "none"): got \(answer.statusCode)")
        }
        #expect(await bob.mailbox.next(timeout: .milliseconds(500)) == nil, "bob received a forged message")
        await attacker.close()
        await bob.close()
        try await server.stop()
    }

    /// `example.com.` (a fully qualified name) is our domain: such a From is one of our users,
    /// not a stranger's, and is challenged or refused, never delivered unauthenticated.
    @Test func aTrailingDotDoesNotMakeALookAlike() async throws {
        let server = try await RunningHomeServer.start(users: [("alice", "pw-a", true), ("bob", "pw-b", true)])
        let (bob, _) = try await RegisteredUA.register("bob", password: "pw-b", on: server, group: testEventLoops)
        let attacker = try await TestUA(group: testEventLoops)
        for (index, domain) in ["example.com.", "EXAMPLE.com."].enumerated() {
            try await attacker.send(Self.message(from: "alice", fromDomain: domain, uri: "sip:bob@example.com", toTag: nil, route: nil,
                                                 uaPort: attacker.port, callID: "dot-\(index)"), to: server.udpPort)
            let answer = await attacker.response()
            #expect(answer?.statusCode == 407 || answer?.statusCode == 403,
                    "From alice@\(domain): \(answer?.statusCode ?? 0) \(answer?.reasonPhrase ?? "")")
        }
        #expect(await bob.mailbox.next(timeout: .milliseconds(300)) == nil, "bob received a message from a look-alike")
        await attacker.close()
        await bob.close()
        try await server.stop()
    }

    @Test func forgedToTagToAForeignTargetIsNotRelayed() async throws {
        let server = try await RunningHomeServer.start(users: [("alice", "pw-a", true)])
        let victim = try await TestUA(group: testEventLoops)  // any host the attacker wants to reach
        let attacker = try await TestUA(group: testEventLoops)
        for (index, route) in [nil, "<sip:127.0.0.1:\(server.udpPort);lr>", "<sip:127.0.0.1:\(victim.port);lr>"].enumerated() {
            try await attacker.send(Self.message(from: "mallory", fromDomain: "evil.example", uri: "sip:x@127.0.0.1:\(victim.port)",
                                                 toTag: "made-up", route: route, uaPort: attacker.port,
                                                 callID: "relay-\(index)"), to: server.udpPort)
            let answer = try #require(await attacker.response())
            #expect(answer.statusCode == 403, "route \(route ?? "none"): got \(answer.statusCode)")
        }
        #expect(await victim.mailbox.next(timeout: .milliseconds(500)) == nil, "the server relayed for a stranger")
        await attacker.close()
        await victim.close()
        try await server.stop()
    }

    /// The real thing still works with authentication on: a BYE in a dialog the server
    /// record-routed goes through without a challenge; the same BYE without the token is
    /// challenged.
    @Test func realInDialogRequestSkipsTheChallengeOnlyWithTheToken() async throws {
        let server = try await RunningHomeServer.start(users: [("alice", "pw-a", true), ("bob", "pw-b", true)])
        let domain = server.domain
        let (bob, _) = try await RegisteredUA.register("bob", password: "pw-b", on: server, group: testEventLoops)
        let alice = try await TestUA(group: testEventLoops)
        let invite = ProxyInviteTests.invite(uaPort: alice.port, domain: domain, callID: "dlg-1", branch: "z9hG4bK-dlg-1")
        try await alice.send(invite, to: server.udpPort)
        let challengeResponse = try #require(await alice.response())
        #expect(challengeResponse.statusCode == 407)
        try await alice.send(ProxyInviteTests.invite(uaPort: alice.port, domain: domain, callID: "dlg-1", branch: "z9hG4bK-dlg-1")
            .replacing("INVITE sip:bob@\(domain) SIP/2.0", with: "ACK sip:bob@\(domain) SIP/2.0")
            .replacing("CSeq: 1 INVITE", with: "CSeq: 1 ACK"), to: server.udpPort)
        let challenge = try #require(TestDigest.challenge(in: challengeResponse, header: "Proxy-Authenticate", algorithm: "MD5"))
        let credentials = TestDigest.authorization(challenge: challenge, user: "alice", password: "pw-a", method: "INVITE",
                                                   uri: "sip:bob@\(domain)")
        let authorised = ProxyInviteTests.invite(uaPort: alice.port, domain: domain, callID: "dlg-1", cseq: 2, branch: "z9hG4bK-dlg-2")
            .replacing("Contact:", with: "Proxy-Authorization: \(credentials)\nContact:")
        try await alice.send(authorised, to: server.udpPort)
        let forwarded = try #require(await bob.request())
        let recordRoutes = forwarded.headers["Record-Route"]
        #expect(recordRoutes.first?.contains(";dlg=") == true)
        try await bob.answer(forwarded, 200, toTag: "bob-tag",
                             extra: recordRoutes.map { ("Record-Route", $0) } + [("Contact", "<sip:bob@127.0.0.1:\(bob.port)>")],
                             to: server.udpPort)
        #expect(await alice.response()?.statusCode == 200)

        let target = "sip:bob@127.0.0.1:\(bob.port)"
        let stripped = recordRoutes.map { $0.replacing(/;dlg=[0-9a-f]+/, with: "") }
        try await alice.send(ProxyInviteTests.inDialog("BYE", target: target, routes: stripped, uaPort: alice.port, domain: domain,
                                                       callID: "dlg-1", cseq: 3, toTag: "bob-tag", branch: "z9hG4bK-bye-1"),
                             to: server.udpPort)
        #expect(await alice.response()?.statusCode == 407)

        try await alice.send(ProxyInviteTests.inDialog("BYE", target: target, routes: recordRoutes, uaPort: alice.port, domain: domain,
                                                       callID: "dlg-1", cseq: 4, toTag: "bob-tag", branch: "z9hG4bK-bye-2"),
                             to: server.udpPort)
        var bye = try #require(await bob.request())
        while bye.method != .bye { bye = try #require(await bob.request()) }  // the ACK for the 200 may come first
        try await bob.answer(bye, 200, toTag: "bob-tag", to: server.udpPort)
        #expect(await alice.response()?.statusCode == 200)
        await alice.close()
        await bob.close()
        try await server.stop()
    }

    /// mallory (a stranger: requests from outside need no credentials) calls bob, who
    /// answers 200 from his registered address: the route set mallory's side of the dialog
    /// keeps (our Record-Route with its dialog token).
    static func strangerCalls(_ bob: TestUA, from mallory: TestUA, on server: RunningHomeServer,
                              callID: String) async throws -> [String] {
        let domain = server.domain
        let invite = ProxyInviteTests.invite(uaPort: mallory.port, domain: domain, callID: callID, branch: "z9hG4bK-\(callID)")
            .replacing("From: <sip:alice@\(domain)>;tag=alice-tag", with: "From: <sip:mallory@evil.example>;tag=alice-tag")
        try await mallory.send(invite, to: server.udpPort)
        var forwarded = try #require(await bob.request())
        while forwarded.method != .invite { forwarded = try #require(await bob.request()) }
        let recordRoutes = forwarded.headers["Record-Route"]
        #expect(recordRoutes.first?.contains(";dlg=") == true)
        try await bob.answer(forwarded, 200, toTag: "bob-tag",
                             extra: recordRoutes.map { ("Record-Route", $0) } + [("Contact", "<sip:bob@127.0.0.1:\(bob.port)>")],
                             to: server.udpPort)
        var answer = try #require(await mallory.response())
        while answer.statusCode < 200 { answer = try #require(await mallory.response()) }
        #expect(answer.statusCode == 200)
        let routes = answer.headers["Record-Route"].reversed().map { $0 }
        #expect(routes.first?.contains(";dlg=") == true)
        return routes
    }

    /// A party to a dialog holds its token (our Record-Route comes back in the responses): a
    /// stranger who set up a dialog with bob must not reuse its token to pose as alice, one
    /// of our users. His own in-dialog requests still pass.
    @Test func aDialogTokenDoesNotLetItsHolderPoseAsAnotherUser() async throws {
        let server = try await RunningHomeServer.start(users: [("alice", "pw-a", true), ("bob", "pw-b", true)])
        let domain = server.domain
        let (bob, _) = try await RegisteredUA.register("bob", password: "pw-b", on: server, group: testEventLoops)
        let mallory = try await TestUA(group: testEventLoops)
        let routes = try await Self.strangerCalls(bob, from: mallory, on: server, callID: "steal-1")

        // The same dialog's Call-ID, tags and token, but From: alice.
        let target = "sip:bob@127.0.0.1:\(bob.port)"
        let posing = ProxyInviteTests.inDialog("MESSAGE", target: target, routes: routes, uaPort: mallory.port, domain: domain,
                                               callID: "steal-1", cseq: 2, toTag: "bob-tag", branch: "z9hG4bK-steal-2")
        try await mallory.send(posing, to: server.udpPort)
        #expect(await mallory.response()?.statusCode == 407)
        while let received = await bob.mailbox.next(timeout: .milliseconds(400)) {
            if case .request(let request) = received {
                #expect(request.method != .message, "bob received a MESSAGE from a stranger posing as alice")
            }
        }

        // Mallory's own in-dialog request, under his own name, goes through.
        let own = posing.replacing("From: <sip:alice@\(domain)>;tag=alice-tag", with: "From: <sip:mallory@evil.example>;tag=alice-tag")
            .replacing("CSeq: 2 MESSAGE", with: "CSeq: 3 MESSAGE").replacing("z9hG4bK-steal-2", with: "z9hG4bK-steal-3")
        try await mallory.send(own, to: server.udpPort)
        var message = try #require(await bob.request())
        while message.method != .message { message = try #require(await bob.request()) }
        try await bob.answer(message, 200, toTag: "bob-tag", to: server.udpPort)
        #expect(await mallory.response()?.statusCode == 200)
        await mallory.close()
        await bob.close()
        try await server.stop()
    }

    /// The token names where each side of the dialog is. mallory, who called bob, must not
    /// use it to speak as bob (the callee's side: From bob, To mallory with mallory's tag) to
    /// alice, nor to make the server carry his requests to a host that is not bob's: to a
    /// third host in the Request-URI, or through a Route after ours.
    @Test func aDialogTokenWorksOnlyBetweenItsTwoEnds() async throws {
        let server = try await RunningHomeServer.start(users: [("alice", "pw-a", true), ("bob", "pw-b", true)])
        let domain = server.domain
        let (bob, _) = try await RegisteredUA.register("bob", password: "pw-b", on: server, group: testEventLoops)
        let (alice, _) = try await RegisteredUA.register("alice", password: "pw-a", on: server, group: testEventLoops)
        let mallory = try await TestUA(group: testEventLoops)
        let victim = try await TestUA(group: testEventLoops)
        let routes = try await Self.strangerCalls(bob, from: mallory, on: server, callID: "ends-1")
        func inDialog(_ uri: String, from: String, to: String, routes: [String], cseq: Int) -> String {
            """
            MESSAGE \(uri) SIP/2.0
            Via: SIP/2.0/UDP 127.0.0.1:\(mallory.port);branch=z9hG4bK-ends-\(cseq);rport
            Max-Forwards: 70
            \(routes.map { "Route: \($0)\n" }.joined())From: \(from)
            To: \(to)
            Call-ID: ends-1
            CSeq: \(cseq) MESSAGE
            Content-Type: text/plain
            Content-Length: *

            this is bob, send me your password
            """
        }
        // As bob (the callee's side of the dialog), to alice.
        try await mallory.send(inDialog("sip:alice@\(domain)", from: "\"Bob\" <sip:bob@\(domain)>;tag=bob-tag",
                                        to: "<sip:mallory@evil.example>;tag=alice-tag", routes: routes, cseq: 2), to: server.udpPort)
        #expect(await mallory.response()?.statusCode == 407)
        // To a third host, named in the Request-URI or in a Route after ours.
        let asMallory = (from: "<sip:mallory@evil.example>;tag=alice-tag", to: "<sip:bob@\(domain)>;tag=bob-tag")
        try await mallory.send(inDialog("sip:victim@127.0.0.1:\(victim.port)", from: asMallory.from, to: asMallory.to,
                                        routes: routes, cseq: 3), to: server.udpPort)
        #expect(await mallory.response()?.statusCode == 403)
        try await mallory.send(inDialog("sip:bob@127.0.0.1:\(bob.port)", from: asMallory.from, to: asMallory.to,
                                        routes: routes + ["<sip:127.0.0.1:\(victim.port);lr>"], cseq: 4), to: server.udpPort)
        #expect(await mallory.response()?.statusCode == 403)
        #expect(await victim.mailbox.next(timeout: .milliseconds(500)) == nil, "the server relayed for a stranger")
        #expect(await alice.mailbox.next(timeout: .milliseconds(200)) == nil, "alice received a message posing as bob")
        // bob himself, from his registered address, may use his side of the dialog.
        try await bob.send(inDialog("sip:mallory@127.0.0.1:\(mallory.port)", from: "<sip:bob@\(domain)>;tag=bob-tag",
                                    to: "<sip:mallory@evil.example>;tag=alice-tag", routes: routes.reversed(), cseq: 5)
                                .replacing("127.0.0.1:\(mallory.port);branch", with: "127.0.0.1:\(bob.port);branch"), to: server.udpPort)
        var delivered = try #require(await mallory.request())
        while delivered.method != .message { delivered = try #require(await mallory.request()) }
        #expect(delivered.from?.uri.description == "sip:bob@\(domain)")
        for ua in [mallory, victim] { await ua.close() }
        await alice.close()
        await bob.close()
        try await server.stop()
    }

    /// alice, one of our users, calls mallory of another domain: mallory's side of the dialog
    /// (the callee's) holds the token too, but may speak only back toward alice, not to a
    /// third host named in the Request-URI or in a Route after ours, or we would relay for
    /// anybody one of our users ever called.
    @Test func aCalleeOfAnotherDomainSpeaksOnlyTowardTheCaller() async throws {
        let server = try await RunningHomeServer.start(users: [("alice", "pw-a", true)])
        let domain = server.domain
        let alice = try await TestUA(group: testEventLoops)
        let mallory = try await TestUA(group: testEventLoops)
        let victim = try await TestUA(group: testEventLoops, host: "127.0.0.2")  // not alice's host
        func invite(cseq: Int, credentials: String?) -> String {
            ProxyInviteTests.invite(uaPort: alice.port, domain: domain, callID: "callee-1", cseq: cseq, branch: "z9hG4bK-callee-\(cseq)")
                .replacing("INVITE sip:bob@\(domain)", with: "INVITE sip:mallory@127.0.0.1:\(mallory.port)")
                .replacing("To: <sip:bob@\(domain)>", with: "To: <sip:mallory@evil.example>")
                .replacing("Contact:", with: (credentials.map { "Proxy-Authorization: \($0)\n" } ?? "") + "Contact:")
        }
        try await alice.send(invite(cseq: 1, credentials: nil), to: server.udpPort)
        let challengeResponse = try #require(await alice.response())
        #expect(challengeResponse.statusCode == 407)
        try await alice.send(invite(cseq: 1, credentials: nil).replacing("INVITE sip:", with: "ACK sip:")
            .replacing("CSeq: 1 INVITE", with: "CSeq: 1 ACK"), to: server.udpPort)
        let challenge = try #require(TestDigest.challenge(in: challengeResponse, header: "Proxy-Authenticate", algorithm: "MD5"))
        try await alice.send(invite(cseq: 2, credentials: TestDigest.authorization(
            challenge: challenge, user: "alice", password: "pw-a", method: "INVITE", uri: "sip:mallory@127.0.0.1:\(mallory.port)")),
                             to: server.udpPort)
        var forwarded = try #require(await mallory.request())
        while forwarded.method != .invite { forwarded = try #require(await mallory.request()) }
        let routes = forwarded.headers["Record-Route"]  // the callee's route set: in order
        #expect(routes.first?.contains(";dlg=") == true)
        try await mallory.answer(forwarded, 200, toTag: "mallory-tag",
                                 extra: routes.map { ("Record-Route", $0) } + [("Contact", "<sip:mallory@127.0.0.1:\(mallory.port)>")],
                                 to: server.udpPort)
        #expect(await alice.response()?.statusCode == 200)

        func inDialog(_ method: String, _ uri: String, routes: [String], cseq: Int) -> String {
            """
            \(method) \(uri) SIP/2.0
            Via: SIP/2.0/UDP 127.0.0.1:\(mallory.port);branch=z9hG4bK-callee-m\(cseq);rport
            Max-Forwards: 70
            \(routes.map { "Route: \($0)\n" }.joined())From: <sip:mallory@evil.example>;tag=mallory-tag
            To: <sip:alice@\(domain)>;tag=alice-tag
            Call-ID: callee-1
            CSeq: \(cseq) \(method)
            Content-Type: text/plain
            Content-Length: *

            relayed by example.com
            """
        }
        // To a third host, named in the Request-URI or in a Route after ours.
        try await mallory.send(inDialog("MESSAGE", "sip:victim@127.0.0.2:\(victim.port)", routes: routes, cseq: 2), to: server.udpPort)
        #expect(await mallory.response()?.statusCode == 403)
        try await mallory.send(inDialog("BYE", "sip:alice@127.0.0.1:\(alice.port)", routes: routes + ["<sip:127.0.0.2:\(victim.port);lr>"],
                                        cseq: 3), to: server.udpPort)
        #expect(await mallory.response()?.statusCode == 403)
        #expect(await victim.mailbox.next(timeout: .milliseconds(500)) == nil, "the server relayed for the callee")
        // Back to alice (her Contact), the dialog still works.
        try await mallory.send(inDialog("BYE", "sip:alice@127.0.0.1:\(alice.port)", routes: routes, cseq: 4), to: server.udpPort)
        var bye = try #require(await alice.request())
        while bye.method != .bye { bye = try #require(await alice.request()) }
        #expect(bye.from?.uri.description == "sip:mallory@evil.example")
        try await alice.answer(bye, 200, toTag: "alice-tag", to: server.udpPort)
        #expect(await mallory.response()?.statusCode == 200)
        for ua in [alice, mallory, victim] { await ua.close() }
        try await server.stop()
    }

    /// An ACK cannot be challenged: one that matches no INVITE of ours and carries no dialog
    /// token is dropped, with or without a To tag, or anybody could hand bob a body as alice.
    @Test func anACKOutsideOurDialogsIsNotDelivered() async throws {
        let server = try await RunningHomeServer.start(users: [("alice", "pw-a", true), ("bob", "pw-b", true)])
        let (bob, _) = try await RegisteredUA.register("bob", password: "pw-b", on: server, group: testEventLoops)
        let attacker = try await TestUA(group: testEventLoops)
        for (index, toTag) in [nil, "made-up"].enumerated() {
            let ack = Self.message(from: "alice", fromDomain: "example.com", uri: "sip:bob@example.com", toTag: toTag, route: nil,
                                   uaPort: attacker.port, callID: "ack-\(index)")
                .replacing("MESSAGE sip:bob@example.com", with: "ACK sip:bob@example.com").replacing("CSeq: 7 MESSAGE", with: "CSeq: 7 ACK")
            try await attacker.send(ack, to: server.udpPort)
        }
        #expect(await bob.mailbox.next(timeout: .milliseconds(500)) == nil, "bob received an ACK nobody authenticated")
        await attacker.close()
        await bob.close()
        try await server.stop()
    }
}
