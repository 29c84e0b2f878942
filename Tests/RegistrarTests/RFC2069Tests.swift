import SIPCore
import Testing
@testable import Registrar
@testable import Store

/// Answers without qop (RFC 2617 §3.2.2.1, the RFC 2069 form), as Pidgin/libpurple's SIMPLE
/// sends them, and quoted `nc` values; each such nonce serves one request (RFC 2617 §4.3).
@Suite("Digest answers in the RFC 2069 form")
struct RFC2069Tests {
    /// libpurple's Authorization, byte for byte: no spaces, no qop, no cnonce, no algorithm.
    static func libpurpleAuthorization(user: String = "alice", password: String, challenge: String,
                                       method: String = "REGISTER", uri: String = "sip:example.com",
                                       nc: String? = nil, header: String = "Authorization") -> String {
        let nonce = challengeParameter(challenge, "nonce")!
        let realm = challengeParameter(challenge, "realm")!
        let response = rfc2069Response(user: user, realm: realm, password: password, method: method, uri: uri, nonce: nonce)
        let count = nc.map { "nc=\"\($0)\"," } ?? ""
        return "\(header): Digest username=\"\(user)\",realm=\"\(realm)\",nonce=\"\(nonce)\",uri=\"\(uri)\",\(count)response=\"\(response)\""
    }

    @Test func libpurpleAnswerRegistersOnceAndItsReplayIsChallenged() async throws {
        let h = try await Harness()
        defer { h.remove() }
        let challenge = await h.register(try registerRequest(), auth: true).headers["WWW-Authenticate"][0]
        let answer = Self.libpurpleAuthorization(password: "alice-pw", challenge: challenge)
        let first = await h.register(try registerRequest(cseq: 2, headers: [answer]), auth: true)
        #expect(first.statusCode == 200)
        #expect(await h.registrar.lookup("alice@example.com").count == 1)
        // The captured answer replayed: the nonce is spent, a fresh (not stale) challenge.
        let replay = await h.register(try registerRequest(cseq: 3, headers: [answer]), auth: true)
        #expect(replay.statusCode == 401)
        let fresh = try #require(replay.headers["WWW-Authenticate"].first)
        #expect(challengeParameter(fresh, "stale") == nil)
        #expect(challengeParameter(fresh, "nonce") != challengeParameter(challenge, "nonce"))
        // The new nonce works once more.
        let again = Self.libpurpleAuthorization(password: "alice-pw", challenge: fresh)
        #expect(await h.register(try registerRequest(cseq: 4, headers: [again]), auth: true).statusCode == 200)
    }

    /// libpurple also sends `nc="0000000N"` (quoted, counting up) without qop; nc is not
    /// hashed then, so the nonce is still good for one request only.
    @Test func quotedNonceCountWithoutQopIsUsableOnce() async throws {
        let h = try await Harness()
        defer { h.remove() }
        let challenge = await h.register(try registerRequest(), auth: true).headers["WWW-Authenticate"][0]
        let first = Self.libpurpleAuthorization(password: "alice-pw", challenge: challenge, nc: "00000001")
        #expect(await h.register(try registerRequest(cseq: 2, headers: [first]), auth: true).statusCode == 200)
        let second = Self.libpurpleAuthorization(password: "alice-pw", challenge: challenge, nc: "00000002")
        #expect(await h.register(try registerRequest(cseq: 3, headers: [second]), auth: true).statusCode == 401)
    }

    @Test func wrongPasswordInTheRFC2069FormIsChallenged() async throws {
        let h = try await Harness()
        defer { h.remove() }
        let challenge = await h.register(try registerRequest(), auth: true).headers["WWW-Authenticate"][0]
        let wrong = Self.libpurpleAuthorization(password: "guess", challenge: challenge)
        #expect(await h.register(try registerRequest(cseq: 2, headers: [wrong]), auth: true).statusCode == 401)
        #expect(await h.registrar.lookup("alice@example.com").isEmpty)
        // A wrong answer does not spend the nonce: the right one still works.
        let right = Self.libpurpleAuthorization(password: "alice-pw", challenge: challenge)
        #expect(await h.register(try registerRequest(cseq: 3, headers: [right]), auth: true).statusCode == 200)
    }

    /// A nonce used in the RFC 2069 form cannot then be used with qop, nor the other way.
    @Test func formsDoNotShareANonce() async throws {
        let h = try await Harness()
        defer { h.remove() }
        let challenge = await h.register(try registerRequest(), auth: true).headers["WWW-Authenticate"][0]
        let withQop = authorization(password: "alice-pw", challenge: challenge, nc: "00000001")
        #expect(await h.register(try registerRequest(cseq: 2, headers: [withQop]), auth: true).statusCode == 200)
        let without = Self.libpurpleAuthorization(password: "alice-pw", challenge: challenge)
        #expect(await h.register(try registerRequest(cseq: 3, headers: [without]), auth: true).statusCode == 401)
    }

    /// `nc="00000001"` quoted with qop=auth (RFC 2617 writes it as a token; clients quote it).
    @Test func quotedNonceCountWithQopIsAccepted() async throws {
        let h = try await Harness()
        defer { h.remove() }
        let challenge = await h.register(try registerRequest(), auth: true).headers["WWW-Authenticate"][0]
        let quoted = authorization(password: "alice-pw", challenge: challenge)
            .replacingOccurrences(of: "qop=auth, nc=00000001", with: "qop=\"auth\", nc=\"00000001\"")
        #expect(quoted.contains("nc=\"00000001\""))
        #expect(await h.register(try registerRequest(cseq: 2, headers: [quoted]), auth: true).statusCode == 200)
        #expect(await h.register(try registerRequest(cseq: 3, headers: [quoted]), auth: true).statusCode == 401)
    }

    /// RFC 2617 §3.2.2: a cnonce without qop is malformed; and the -sess A1 needs a cnonce.
    @Test func malformedAnswersWithoutQopAreChallenged() async throws {
        let h = try await Harness()
        defer { h.remove() }
        let challenge = await h.register(try registerRequest(), auth: true).headers["WWW-Authenticate"][0]
        let base = Self.libpurpleAuthorization(password: "alice-pw", challenge: challenge)
        for bad in [base + ",cnonce=\"abc\"", base + ",algorithm=MD5-sess"] {
            #expect(await h.register(try registerRequest(cseq: 2, headers: [bad]), auth: true).statusCode == 401, "\(bad)")
        }
        #expect(await h.register(try registerRequest(cseq: 3, headers: [base]), auth: true).statusCode == 200)
    }

    /// The proxy path (407, Proxy-Authorization): libpurple's MESSAGE answer.
    @Test func messageAnsweredInTheRFC2069FormIsAuthenticated() async throws {
        let h = try await Harness()
        defer { h.remove() }
        let message = try registerRequest(contacts: [], expires: nil, method: "MESSAGE")
        guard case .respond(let challenge) = await h.authenticator.authenticate(message) else {
            Issue.record("MESSAGE without credentials was accepted")
            return
        }
        let header = Self.libpurpleAuthorization(password: "alice-pw", challenge: challenge.headers["Proxy-Authenticate"][0],
                                                 method: "MESSAGE", header: "Proxy-Authorization")
        let signed = try registerRequest(cseq: 2, contacts: [], expires: nil, headers: [header], method: "MESSAGE")
        guard case .authenticated(let user) = await h.authenticator.authenticate(signed) else {
            Issue.record("libpurple's MESSAGE answer was refused")
            return
        }
        #expect(user.aor == "alice@example.com")
        guard case .respond(let replay) = await h.authenticator.authenticate(signed) else {
            Issue.record("a replayed RFC 2069 answer was accepted")
            return
        }
        #expect(replay.statusCode == 407)
    }

    @Test func rfc2069ResponseMatchesAnIndependentComputation() {
        let ha1 = DigestHA1.compute(user: "Mufasa", realm: "testrealm@host.com", password: "Circle Of Life")
        let ours = DigestAuthenticator.rfc2069Response(ha1: ha1.md5, algorithm: .md5, method: "GET", uri: "/dir/index.html",
                                                       nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093")
        let independent = rfc2069Response(user: "Mufasa", realm: "testrealm@host.com", password: "Circle Of Life",
                                          method: "GET", uri: "/dir/index.html", nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093")
        #expect(String(decoding: ours, as: UTF8.self) == independent)
    }

    @Test func rfc2069CanBeTurnedOff() async throws {
        let h = try await Harness(configureAuth: { $0.acceptRFC2069 = false })
        defer { h.remove() }
        let challenge = await h.register(try registerRequest(), auth: true).headers["WWW-Authenticate"][0]
        let answer = Self.libpurpleAuthorization(password: "alice-pw", challenge: challenge)
        #expect(await h.register(try registerRequest(cseq: 2, headers: [answer]), auth: true).statusCode == 401)
    }
}
