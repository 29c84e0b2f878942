import SIPCore
import Testing
@testable import Registrar
@testable import Store

@Suite("Digest authentication (RFC 3261 §22, RFC 8760)")
struct DigestTests {
    /// RFC 2617 §3.5 (MD5, qop=auth) and RFC 7616 §3.9.1 (SHA-256 and MD5) examples.
    @Test(arguments: [
        ("Mufasa", "testrealm@host.com", "Circle Of Life", "GET", "/dir/index.html", "dcd98b7102dd2f0e8b11d0f600bfb0c093",
         "0a4f113b", DigestAlgorithm.md5, "6629fae49393a05397450978507c4ef1"),
        ("Mufasa", "http-auth@example.org", "Circle of Life", "GET", "/dir/index.html",
         "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", .md5,
         "8ca523f5e9506fed4657c9700eebdbec"),
        ("Mufasa", "http-auth@example.org", "Circle of Life", "GET", "/dir/index.html",
         "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", .sha256,
         "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ] as [(String, String, String, String, String, String, String, DigestAlgorithm, String)])
    func publishedVectors(user: String, realm: String, password: String, method: String, uri: String, nonce: String,
                          cnonce: String, algorithm: DigestAlgorithm, expected: String) {
        let ha1 = DigestHA1.compute(user: user, realm: realm, password: password)
        let response = DigestAuthenticator.response(ha1: algorithm.usesSHA256 ? ha1.sha256 : ha1.md5, algorithm: algorithm,
                                                    method: method, uri: uri, nonce: nonce, nc: "00000001", cnonce: cnonce)
        #expect(String(decoding: response, as: UTF8.self) == expected)
    }

    @Test func ha1MatchesAnIndependentComputation() {
        let ha1 = DigestHA1.compute(aor: "alice@example.com", password: "s3cret")!
        #expect(Hex.string(ha1.md5) == hexDigest("alice:example.com:s3cret", sha256: false))
        #expect(Hex.string(ha1.sha256) == hexDigest("alice:example.com:s3cret", sha256: true))
    }

    /// The default is one MD5 challenge (as Kamailio), which libre/baresip 1.0 can answer.
    @Test func defaultChallengeIsMD5Only() async throws {
        let h = try await Harness()
        defer { h.remove() }
        let response = await h.register(try registerRequest(), auth: true)
        #expect(response.statusCode == 401)
        let challenges = response.headers["WWW-Authenticate"]
        #expect(challenges.map { challengeParameter($0, "algorithm") } == ["MD5"])
        #expect(challengeParameter(challenges[0], "qop") == "auth")
        let message = try registerRequest(contacts: [], expires: nil, method: "MESSAGE")
        guard case .respond(let proxyChallenge) = await h.authenticator.authenticate(message) else {
            Issue.record("MESSAGE without credentials was accepted")
            return
        }
        #expect(proxyChallenge.headers["Proxy-Authenticate"].map { challengeParameter($0, "algorithm") } == ["MD5"])
    }

    /// RFC 8760 stays available: SHA-256 then MD5 when configured so.
    @Test func challengeOffersSHA256ThenMD5WhenConfigured() async throws {
        let h = try await Harness(configureAuth: { $0.algorithms = [.sha256, .md5] })
        defer { h.remove() }
        let response = await h.register(try registerRequest(), auth: true)
        #expect(response.statusCode == 401)
        let challenges = response.headers["WWW-Authenticate"]
        #expect(challenges.count == 2)
        #expect(challenges.map { challengeParameter($0, "algorithm") } == ["SHA-256", "MD5"])
        #expect(challenges.allSatisfy { challengeParameter($0, "qop") == "auth" && challengeParameter($0, "realm") == "example.com" })
        #expect(challenges.allSatisfy { challengeParameter($0, "stale") == nil })
        #expect(await h.registrar.lookup("alice@example.com").isEmpty)

        // Other methods are challenged by a proxy: 407 with Proxy-Authenticate.
        let message = try registerRequest(contacts: [], expires: nil, method: "MESSAGE")
        guard case .respond(let proxyChallenge) = await h.authenticator.authenticate(message) else {
            Issue.record("MESSAGE without credentials was accepted")
            return
        }
        #expect(proxyChallenge.statusCode == 407)
        #expect(proxyChallenge.headers["Proxy-Authenticate"].count == 2)
        #expect(proxyChallenge.headers["WWW-Authenticate"].isEmpty)
    }

    @Test(arguments: [0, 1])
    func registerWithDigest(challengeIndex: Int) async throws {
        let h = try await Harness(configureAuth: { $0.algorithms = [.sha256, .md5] })
        defer { h.remove() }
        let challenge = await h.register(try registerRequest(), auth: true).headers["WWW-Authenticate"][challengeIndex]
        let credentials = authorization(password: "alice-pw", challenge: challenge)
        let response = await h.register(try registerRequest(cseq: 2, headers: [credentials]), auth: true)
        #expect(response.statusCode == 200, "\(challengeParameter(challenge, "algorithm") ?? "?")")
        #expect(await h.registrar.lookup("alice@example.com").count == 1)
    }

    @Test func wrongPasswordIsChallengedAgain() async throws {
        let h = try await Harness()
        defer { h.remove() }
        let challenge = await h.register(try registerRequest(), auth: true).headers["WWW-Authenticate"][0]
        let response = await h.register(try registerRequest(cseq: 2, headers: [authorization(password: "guess", challenge: challenge)]), auth: true)
        #expect(response.statusCode == 401)
        #expect(response.headers["WWW-Authenticate"].allSatisfy { challengeParameter($0, "stale") == nil })
        #expect(await h.registrar.lookup("alice@example.com").isEmpty)
    }

    @Test func replayedNonceCountIsRefused() async throws {
        let h = try await Harness()
        defer { h.remove() }
        let challenge = await h.register(try registerRequest(), auth: true).headers["WWW-Authenticate"][0]
        let first = authorization(password: "alice-pw", challenge: challenge, nc: "00000001")
        #expect(await h.register(try registerRequest(cseq: 2, headers: [first]), auth: true).statusCode == 200)
        // The same credentials again (a captured request replayed): refused with a new challenge.
        let replay = await h.register(try registerRequest(cseq: 3, headers: [first]), auth: true)
        #expect(replay.statusCode == 401)
        // The client's next request on the same nonce counts up: accepted.
        let next = authorization(password: "alice-pw", challenge: challenge, nc: "00000002", cnonce: "other")
        #expect(await h.register(try registerRequest(cseq: 4, headers: [next]), auth: true).statusCode == 200)
        #expect(await h.register(try registerRequest(cseq: 5, headers: [next]), auth: true).statusCode == 401)
    }

    @Test func expiredNonceIsStaleOnlyWithTheRightPassword() async throws {
        let h = try await Harness()
        defer { h.remove() }
        let challenge = await h.register(try registerRequest(), auth: true).headers["WWW-Authenticate"][0]
        h.clock.advance(301)
        let right = await h.register(try registerRequest(cseq: 2, headers: [authorization(password: "alice-pw", challenge: challenge)]), auth: true)
        #expect(right.statusCode == 401)
        #expect(right.headers["WWW-Authenticate"].allSatisfy { challengeParameter($0, "stale") == "true" })
        let wrong = await h.register(try registerRequest(cseq: 3, headers: [authorization(password: "nope", challenge: challenge)]), auth: true)
        #expect(wrong.statusCode == 401)
        #expect(wrong.headers["WWW-Authenticate"].allSatisfy { challengeParameter($0, "stale") == nil })
        // The fresh nonce of the stale challenge works.
        let fresh = authorization(password: "alice-pw", challenge: right.headers["WWW-Authenticate"][0])
        #expect(await h.register(try registerRequest(cseq: 4, headers: [fresh]), auth: true).statusCode == 200)
    }

    @Test func forgedNonceIsChallenged() async throws {
        let h = try await Harness()
        defer { h.remove() }
        let challenge = await h.register(try registerRequest(), auth: true).headers["WWW-Authenticate"][0]
        let nonce = challengeParameter(challenge, "nonce")!
        // Move the timestamp forward by one second without the server's secret.
        var bytes = Hex.decode(nonce)!
        bytes[7] &+= 1
        let forged = challenge.replacingOccurrences(of: nonce, with: Hex.string(bytes))
        let response = await h.register(try registerRequest(cseq: 2, headers: [authorization(password: "alice-pw", challenge: forged)]), auth: true)
        #expect(response.statusCode == 401)
        #expect(await h.registrar.lookup("alice@example.com").isEmpty)
    }

    @Test func authenticatedUserMustOwnFrom() async throws {
        let h = try await Harness()
        defer { h.remove() }
        // carol authenticates as herself but claims to be alice in From.
        let request = try registerRequest("alice", from: "alice")
        let challenge = await h.register(request, auth: true).headers["WWW-Authenticate"][0]
        let asCarol = authorization(user: "carol", password: "carol-pw", challenge: challenge)
        let response = await h.register(try registerRequest("alice", cseq: 2, headers: [asCarol]), auth: true)
        #expect(response.statusCode == 403)
        // A MESSAGE from alice authenticated as carol: 403 too (407 flow, Proxy-Authorization).
        let message = try registerRequest(contacts: [], expires: nil, method: "MESSAGE")
        guard case .respond(let challenge407) = await h.authenticator.authenticate(message) else { return }
        let header = authorization(user: "carol", password: "carol-pw", challenge: challenge407.headers["Proxy-Authenticate"][0],
                                   method: "MESSAGE", header: "Proxy-Authorization")
        let signed = try registerRequest(cseq: 2, contacts: [], expires: nil, headers: [header], method: "MESSAGE")
        guard case .respond(let refused) = await h.authenticator.authenticate(signed) else {
            Issue.record("carol was let through as alice")
            return
        }
        #expect(refused.statusCode == 403)
    }

    @Test func disabledUserIsForbiddenEvenWithTheRightPassword() async throws {
        let h = try await Harness()
        defer { h.remove() }
        let challenge = await h.register(try registerRequest("bob"), auth: true).headers["WWW-Authenticate"][0]
        let response = await h.register(try registerRequest("bob", cseq: 2, headers: [authorization(user: "bob", password: "bob-pw", challenge: challenge)]), auth: true)
        #expect(response.statusCode == 403)
    }

    @Test func nonceCountTrackerStaysBounded() {
        let tracker = NonceCountTracker(lifetime: 300, capacity: 3, now: 1000)
        let ids = (0..<5).map { NonceAuthority.ID(timestamp: 990, salt: UInt64($0)) }
        for id in ids.prefix(3) { #expect(tracker.check(id, nc: 1, now: 1000) == .fresh) }
        #expect(tracker.check(ids[0], nc: 1, now: 1000) == .replay)
        // The fourth fills the generation: it is rotated; the three stay tracked in the old one.
        #expect(tracker.check(ids[3], nc: 1, now: 1001) == .fresh)
        #expect(tracker.check(ids[1], nc: 1, now: 1001) == .replay)
        #expect(tracker.trackedCount <= 6)
        // A nonce issued before the early rotation and never seen can no longer be told from one
        // whose count was dropped: stale, so the client takes a fresh nonce.
        #expect(tracker.check(ids[4], nc: 1, now: 1002) == .untrackable)
        #expect(tracker.check(NonceAuthority.ID(timestamp: 1002, salt: 9), nc: 1, now: 1002) == .fresh)
    }

    @Test func credentialsParsing() throws {
        let parsed = try #require(DigestResponse(parsing: #"Digest username="user0",realm="example.com",cnonce="6b8b4567",nc=00000001,qop=auth,uri="sip:127.0.0.1:5060",nonce="abc",response="0dd1",algorithm=MD5"#))
        #expect(parsed.username == "user0")
        #expect(parsed.nonceCount == "00000001")
        #expect(parsed.uri == "sip:127.0.0.1:5060")
        #expect(DigestResponse(parsing: #"Basic dXNlcjpwdw=="#) == nil)
        #expect(DigestResponse(parsing: #"Digest username="a", realm="b""#) == nil)
        let escaped = try #require(DigestResponse(parsing: #"digest USERNAME = "a\"b" , realm="r", nonce="n", uri="u", response="x""#))
        #expect(escaped.username == "a\"b")
    }
}
