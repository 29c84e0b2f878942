import Foundation
import SIPCore
import Testing

/// REGISTER with digest authentication (RFC 3261 §10.3, §22; RFC 8760) against a home server
/// on real sockets and a real SQLite file.
@Suite(.serialized) struct HomeServerRegisterTests {
    @Test(arguments: ["MD5", "SHA-256"])
    func registerWithDigest(algorithm: String) async throws {
        let server = try await RunningHomeServer.start(users: [("alice", "secret-a", true)], digestAlgorithms: "SHA-256,MD5")
        let (ua, response) = try await RegisteredUA.register("alice", password: "secret-a", on: server,
                                                             group: testEventLoops, algorithm: algorithm)
        #expect(response?.statusCode == 200)
        #expect(response?.contacts.first?.nameAddr?.uri.sipURI?.port == ua.port)
        await ua.close()
        try await server.stop()
    }

    /// `--digest-algorithms SHA-256,MD5` / `MD5,SHA-256`: both offered, in that order (RFC 8760 §2.4).
    @Test(arguments: [("SHA-256,MD5", ["SHA-256", "MD5"]), ("MD5,SHA-256", ["MD5", "SHA-256"])])
    func challengeOffersSHA256AndMD5WhenConfigured(setting: String, expected: [String]) async throws {
        let server = try await RunningHomeServer.start(users: [("alice", "secret-a", true)], digestAlgorithms: setting)
        let ua = try await TestUA(group: testEventLoops)
        try await ua.send(SIPText.register(user: "alice", domain: server.domain, uaPort: ua.port, cseq: 1, callID: "c-offer"),
                          to: server.udpPort)
        let challenge = try #require(await ua.response())
        #expect(challenge.statusCode == 401)
        let offered = challenge.headers.filter { $0.name == "WWW-Authenticate" }.map { TestDigest.parameters($0.value)["algorithm"] }
        #expect(offered == expected)
        await ua.close()
        try await server.stop()
    }

    /// By default one MD5 challenge (as Kamailio), which libre (baresip 1.0), sipp and sipsak answer.
    @Test func defaultChallengeIsOneMD5Header() async throws {
        let server = try await RunningHomeServer.start(users: [("alice", "secret-a", true)])
        let ua = try await TestUA(group: testEventLoops)
        try await ua.send(SIPText.register(user: "alice", domain: server.domain, uaPort: ua.port, cseq: 1, callID: "c-default"),
                          to: server.udpPort)
        let challenge = try #require(await ua.response())
        #expect(challenge.statusCode == 401)
        let offered = challenge.headers.filter { $0.name == "WWW-Authenticate" }.map { TestDigest.parameters($0.value)["algorithm"] }
        #expect(offered == ["MD5"])
        await ua.close()
        try await server.stop()
    }

    @Test func wrongPasswordIsChallengedAgain() async throws {
        let server = try await RunningHomeServer.start(users: [("alice", "secret-a", true)])
        let (ua, response) = try await RegisteredUA.register("alice", password: "wrong", on: server, group: testEventLoops)
        #expect(response?.statusCode == 401)
        await ua.close()
        try await server.stop()
    }

    @Test func replayedNonceCountIsRefused() async throws {
        let server = try await RunningHomeServer.start(users: [("alice", "secret-a", true)])
        let ua = try await TestUA(group: testEventLoops)
        let callID = "c-replay"
        try await ua.send(SIPText.register(user: "alice", domain: server.domain, uaPort: ua.port, cseq: 1, callID: callID),
                          to: server.udpPort)
        let first = try #require(await ua.response())
        let challenge = try #require(TestDigest.challenge(in: first, header: "WWW-Authenticate", algorithm: "MD5"))
        let authorization = TestDigest.authorization(challenge: challenge, user: "alice", password: "secret-a",
                                                     method: "REGISTER", uri: "sip:\(server.domain)", nc: 1)
        try await ua.send(SIPText.register(user: "alice", domain: server.domain, uaPort: ua.port, cseq: 2, callID: callID,
                                           authorization: authorization), to: server.udpPort)
        #expect(await ua.response()?.statusCode == 200)
        // The same credentials (same nonce, same nc) in a new request: a replay.
        try await ua.send(SIPText.register(user: "alice", domain: server.domain, uaPort: ua.port, cseq: 3, callID: callID,
                                           authorization: authorization), to: server.udpPort)
        let replayed = try #require(await ua.response())
        #expect(replayed.statusCode == 401 || replayed.statusCode == 403)
        await ua.close()
        try await server.stop()
    }

    @Test func disabledUserIsRefused() async throws {
        let server = try await RunningHomeServer.start(users: [("mallory", "secret-m", false)])
        let (ua, response) = try await RegisteredUA.register("mallory", password: "secret-m", on: server, group: testEventLoops)
        #expect(response?.statusCode == 403)
        await ua.close()
        try await server.stop()
    }

    @Test func unknownUserIsRefused() async throws {
        let server = try await RunningHomeServer.start(users: [("alice", "secret-a", true)])
        let (ua, response) = try await RegisteredUA.register("nobody", password: "x", on: server, group: testEventLoops)
        // Challenged again, exactly as a wrong password is: nothing tells that nobody does not exist.
        #expect(response?.statusCode == 401)
        await ua.close()
        try await server.stop()
    }

    /// Bindings are durable: a restarted server on the same data folder still routes to them.
    @Test func restartKeepsBindings() async throws {
        let first = try await RunningHomeServer.start(auth: false, users: [("alice", "a", true), ("bob", "b", true)])
        let (bob, registered) = try await RegisteredUA.register("bob", password: "b", on: first, group: testEventLoops)
        #expect(registered?.statusCode == 200)
        try await first.stop()

        let second = try await RunningHomeServer.start(dataDirectory: first.dataDirectory, auth: false)
        let alice = try await TestUA(group: testEventLoops)
        try await alice.send(SIPText.message(from: "alice", to: "bob", domain: second.domain, uaPort: alice.port, cseq: 1,
                                             callID: "after-restart", body: "still there?"), to: second.udpPort)
        let relayed = try #require(await bob.request())
        #expect(relayed.method == .message)
        #expect(String(decoding: relayed.body, as: UTF8.self) == "still there?")
        try await bob.answer(relayed, 200, to: second.udpPort)
        #expect(await alice.response()?.statusCode == 200)
        await alice.close()
        await bob.close()
        try await second.stop()
    }
}
