import Foundation
import SIPCore
import Testing

/// RFC 3428 MESSAGE relayed by the stateful proxy (RFC 3261 §16) to the registered contact.
@Suite(.serialized) struct ProxyMessageTests {
    @Test func messageIsRelayedToBobAndHis200ReturnsToAlice() async throws {
        let server = try await RunningHomeServer.start(users: [("alice", "pw-a", true), ("bob", "pw-b", true)])
        let (bob, bobRegistered) = try await RegisteredUA.register("bob", password: "pw-b", on: server, group: testEventLoops)
        #expect(bobRegistered?.statusCode == 200)
        let alice = try await TestUA(group: testEventLoops)

        // Unauthenticated: 407 with a challenge (RFC 3261 §22.3).
        try await alice.send(SIPText.message(from: "alice", to: "bob", domain: server.domain, uaPort: alice.port, cseq: 1,
                                             callID: "im-1", body: "hello bob"), to: server.udpPort)
        let challengeResponse = try #require(await alice.response())
        #expect(challengeResponse.statusCode == 407)
        let challenge = try #require(TestDigest.challenge(in: challengeResponse, header: "Proxy-Authenticate", algorithm: "MD5"))
        let credentials = TestDigest.authorization(challenge: challenge, user: "alice", password: "pw-a", method: "MESSAGE",
                                                   uri: "sip:bob@\(server.domain)")
        try await alice.send(SIPText.message(from: "alice", to: "bob", domain: server.domain, uaPort: alice.port, cseq: 2,
                                             callID: "im-1", body: "hello bob", proxyAuthorization: credentials),
                             to: server.udpPort)

        let relayed = try #require(await bob.request())
        #expect(relayed.method == .message)
        #expect(relayed.uri.sipURI?.port == bob.port)  // Request-URI is bob's contact (§16.6 step 2)
        #expect(relayed.maxForwards == 69)
        #expect(try relayed.vias.count == 2)
        #expect(String(decoding: relayed.body, as: UTF8.self) == "hello bob")
        try await bob.answer(relayed, 200, to: server.udpPort)

        let final = try #require(await alice.response())
        #expect(final.statusCode == 200)
        #expect(try final.vias.count == 1)  // the proxy's Via is gone (§16.7 step 3)
        #expect(final.callID == "im-1")
        await alice.close()
        await bob.close()
        try await server.stop()
    }

    /// An unknown user and a known one without a binding get the same 480, so that the answer
    /// does not tell an outsider who exists.
    @Test func unknownUserAndUnregisteredUserAreBoth480() async throws {
        let server = try await RunningHomeServer.start(auth: false, users: [("alice", "a", true), ("carol", "c", true)])
        let alice = try await TestUA(group: testEventLoops)
        try await alice.send(SIPText.message(from: "alice", to: "nobody", domain: server.domain, uaPort: alice.port, cseq: 1,
                                             callID: "im-404", body: "?"), to: server.udpPort)
        #expect(await alice.response()?.statusCode == 480)
        try await alice.send(SIPText.message(from: "alice", to: "carol", domain: server.domain, uaPort: alice.port, cseq: 1,
                                             callID: "im-480", body: "?"), to: server.udpPort)
        #expect(await alice.response()?.statusCode == 480)
        await alice.close()
        try await server.stop()
    }

    /// Parallel forking: both of bob's contacts get the MESSAGE; the first 200 goes back.
    @Test func forksToEveryContact() async throws {
        let server = try await RunningHomeServer.start(auth: false, users: [("alice", "a", true), ("bob", "b", true)])
        let (bob1, r1) = try await RegisteredUA.register("bob", password: "b", on: server, group: testEventLoops)
        let (bob2, r2) = try await RegisteredUA.register("bob", password: "b", on: server, group: testEventLoops)
        #expect(r1?.statusCode == 200 && r2?.statusCode == 200)
        let alice = try await TestUA(group: testEventLoops)
        try await alice.send(SIPText.message(from: "alice", to: "bob", domain: server.domain, uaPort: alice.port, cseq: 1,
                                             callID: "im-fork", body: "both?"), to: server.udpPort)
        let m1 = try #require(await bob1.request())
        let m2 = try #require(await bob2.request())
        #expect(try m1.topVia?.branch != m2.topVia?.branch)
        try await bob2.answer(m2, 200, to: server.udpPort)
        try await bob1.answer(m1, 486, to: server.udpPort)
        #expect(await alice.response()?.statusCode == 200)
        await alice.close()
        await bob1.close()
        await bob2.close()
        try await server.stop()
    }
}
