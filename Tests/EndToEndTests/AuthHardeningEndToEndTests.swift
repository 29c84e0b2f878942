import Foundation
import SIPCore
import Testing

/// Digest answers real clients send, failed-attempt throttling and answers that do not
/// reveal which users exist, against a home server over real UDP sockets.
@Suite(.serialized) struct AuthHardeningEndToEndTests {
    /// Pidgin/libpurple SIMPLE's Authorization, in its exact wire form (RFC 2069 style, RFC 2617
    /// §3.2.2.1 without qop): no spaces after commas, no qop, cnonce or algorithm; with `nc`
    /// quoted when `nc` is given.
    static func libpurpleAuthorization(challenge: String, user: String, password: String, uri: String,
                                       nc: String? = nil) -> String {
        let p = TestDigest.parameters(challenge)
        let realm = p["realm"] ?? "", nonce = p["nonce"] ?? ""
        let ha1 = TestDigest.hash("MD5", "\(user):\(realm):\(password)")
        let ha2 = TestDigest.hash("MD5", "REGISTER:\(uri)")
        let response = TestDigest.hash("MD5", "\(ha1):\(nonce):\(ha2)")
        let count = nc.map { "nc=\"\($0)\"," } ?? ""
        return "Digest username=\"\(user)\",realm=\"\(realm)\",nonce=\"\(nonce)\",uri=\"\(uri)\",\(count)response=\"\(response)\""
    }

    /// Challenge, answer without qop: 200; the same answer again: challenged (401), not 200.
    @Test(arguments: [nil, "00000001"] as [String?])
    func libpurpleRegistersAndItsReplayIsChallenged(nc: String?) async throws {
        let server = try await RunningHomeServer.start(domain: "localhost", users: [("alice", "secret-a", true)])
        let ua = try await TestUA(group: testEventLoops)
        let callID = "purple-\(nc ?? "none")"
        func register(_ cseq: Int, _ authorization: String? = nil) async throws -> SIPResponse? {
            try await ua.send(SIPText.register(user: "alice", domain: "localhost", uaPort: ua.port, cseq: cseq, callID: callID,
                                               authorization: authorization), to: server.udpPort)
            return await ua.response()
        }
        let first = try #require(try await register(1))
        #expect(first.statusCode == 401)
        let challenge = try #require(TestDigest.challenge(in: first, header: "WWW-Authenticate", algorithm: "MD5"))
        let answer = Self.libpurpleAuthorization(challenge: challenge, user: "alice", password: "secret-a",
                                                 uri: "sip:localhost", nc: nc)
        #expect(try await register(2, answer)?.statusCode == 200)
        let replayed = try #require(try await register(3, answer))
        #expect(replayed.statusCode == 401)
        #expect(TestDigest.challenge(in: replayed, header: "WWW-Authenticate", algorithm: "MD5")
            .map { TestDigest.parameters($0)["stale"] } == .some(nil))
        await ua.close()
        try await server.stop()
    }

    /// Six wrong answers from one socket: 403; the right password from there while it cools off:
    /// still 403; the right password for the same user from another address (127.0.0.2): 200.
    @Test func repeatedFailuresThrottleTheSourceButNotTheUser() async throws {
        let server = try await RunningHomeServer.start(users: [("alice", "secret-a", true)])
        let attacker = try await TestUA(group: testEventLoops)
        let callID = "guessing"
        try await attacker.send(SIPText.register(user: "alice", domain: server.domain, uaPort: attacker.port, cseq: 1,
                                                 callID: callID), to: server.udpPort)
        let first = try #require(await attacker.response())
        let challenge = try #require(TestDigest.challenge(in: first, header: "WWW-Authenticate", algorithm: "MD5"))
        var statuses: [Int] = []
        for i in 0..<6 {
            let guess = TestDigest.authorization(challenge: challenge, user: "alice", password: "guess-\(i)", method: "REGISTER",
                                                 uri: "sip:\(server.domain)", nc: i + 1)
            try await attacker.send(SIPText.register(user: "alice", domain: server.domain, uaPort: attacker.port, cseq: 2 + i,
                                                     callID: callID, authorization: guess), to: server.udpPort)
            statuses.append(await attacker.response()?.statusCode ?? 0)
        }
        #expect(statuses == [401, 401, 401, 401, 401, 403])

        // The right password from the same source while it cools off: refused all the same.
        let (sameSource, sameResult) = try await RegisteredUA.register("alice", password: "secret-a", on: server,
                                                                       group: testEventLoops)
        #expect(sameResult?.statusCode == 403)
        #expect(sameResult?.reasonPhrase == "Forbidden (too many failed attempts)")

        // Alice from her own address (127.0.0.2) is not locked out.
        let home = try await TestUA(group: testEventLoops, host: "127.0.0.2")
        try await home.send(SIPText.register(user: "alice", domain: server.domain, uaPort: home.port, cseq: 1, callID: "home"),
                            to: server.udpPort)
        let homeChallenge = try #require(await home.response())
        #expect(homeChallenge.statusCode == 401)
        let value = try #require(TestDigest.challenge(in: homeChallenge, header: "WWW-Authenticate", algorithm: "MD5"))
        let right = TestDigest.authorization(challenge: value, user: "alice", password: "secret-a", method: "REGISTER",
                                             uri: "sip:\(server.domain)")
        try await home.send(SIPText.register(user: "alice", domain: server.domain, uaPort: home.port, cseq: 2, callID: "home",
                                             authorization: right), to: server.udpPort)
        #expect(await home.response()?.statusCode == 200)
        await attacker.close()
        await sameSource.close()
        await home.close()
        try await server.stop()
    }

    /// `home-server --help` documents the default and how to offer SHA-256 (RFC 8760).
    @Test func helpDocumentsDigestAlgorithms() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: HomeServerCommandTests.executable.path), "build home-server first")
        let run = try HomeServerCommandTests.launch(["--help"])
        let text = String(decoding: run.stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(await HomeServerCommandTests.wait(run.process))
        let flat = text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(flat.contains("--digest-algorithms"))
        #expect(flat.contains("SHA-256,MD5"))
        #expect(flat.contains("MD5,SHA-256"))
        #expect(flat.contains("(default: MD5,"))
    }

    /// An outsider (a foreign From, so never challenged) gets the same 480 for a user that does
    /// not exist as for one that exists but is not signed in.
    @Test func outsiderCannotTellWhoExists() async throws {
        let server = try await RunningHomeServer.start(users: [("carol", "secret-c", true)])
        let outsider = try await TestUA(group: testEventLoops)
        var answers: [String: SIPResponse] = [:]
        for (i, user) in ["nobody", "carol"].enumerated() {
            try await outsider.send("""
                MESSAGE sip:\(user)@\(server.domain) SIP/2.0
                Via: SIP/2.0/UDP 127.0.0.1:\(outsider.port);branch=z9hG4bK-out-\(i);rport
                Max-Forwards: 70
                From: <sip:mallory@elsewhere.example>;tag=out
                To: <sip:\(user)@\(server.domain)>
                Call-ID: outsider-probe
                CSeq: \(i + 1) MESSAGE
                Content-Type: text/plain
                Content-Length: *

                hi
                """, to: server.udpPort)
            answers[user] = await outsider.response()
        }
        let nobody = try #require(answers["nobody"])
        let carol = try #require(answers["carol"])
        #expect(nobody.statusCode == 480)
        #expect(nobody.statusCode == carol.statusCode && nobody.reasonPhrase == carol.reasonPhrase)
        #expect(nobody.headers.map(\.name) == carol.headers.map(\.name))
        await outsider.close()
        try await server.stop()
    }
}
