import SIPCore
import Testing
@testable import Registrar
@testable import Store

/// pidgin-sipe 1.25's digest (``LCSClientQuirks``), with the headers it sends on every
/// REGISTER (captured from the running client): it understands only a 407 challenge, answers
/// in Proxy-Authorization, and hashes the literal digest-uri `(null)`. Nobody else gets these
/// allowances.
@Suite("pidgin-sipe's digest")
struct SipeDigestTests {
    /// sipe's REGISTER headers (Debian's pidgin-sipe 1.25.0, captured on the wire).
    static let sipeHeaders = [
        "User-Agent: Purple/2.14.12 Sipe/1.25.0 (linux-x86_64)",
        "Supported: gruu-10, adhoclist, msrtc-event-categories, com.microsoft.msrtc.presence",
        "Event: registration",
        "Allow-Events: presence",
        "ms-keep-alive: UAC;hop-hop=yes",
    ]

    /// sipe's answer, as it writes it: `uri="(null)"`, qop=auth, nc, cnonce, the response
    /// hashed over `(null)`. The username is sipe's login: the account `alice@example.com,alice`
    /// (sign-in address, then login) sends `alice`, whose HA1 the directory holds; with no
    /// login sipe sends the whole address, which the directory's HA1 (user part) does not match.
    static func sipeAnswer(user: String = "alice", password: String, challenge: String,
                           method: String = "REGISTER", nc: String = "00000001", header: String = "Proxy-Authorization") -> String {
        let nonce = challengeParameter(challenge, "nonce")!
        let realm = challengeParameter(challenge, "realm")!
        let ha1 = hexDigest("\(user):\(realm):\(password)", sha256: false)
        let ha2 = hexDigest("\(method):(null)", sha256: false)
        let response = hexDigest("\(ha1):\(nonce):\(nc):8552ae7c:auth:\(ha2)", sha256: false)
        return "\(header): Digest username=\"\(user)\", realm=\"\(realm)\", nonce=\"\(nonce)\", uri=\"(null)\", "
            + "qop=auth, nc=\(nc), cnonce=\"8552ae7c\", response=\"\(response)\""
    }

    @Test func sipeRegisterIsChallengedWith407AndItsNullURIAnswerRegisters() async throws {
        let h = try await Harness()
        defer { h.remove() }
        let first = await h.register(try registerRequest(headers: Self.sipeHeaders), auth: true)
        #expect(first.statusCode == 407)
        #expect(first.headers["WWW-Authenticate"].isEmpty)
        let challenge = try #require(first.headers["Proxy-Authenticate"].first)
        let answer = Self.sipeAnswer(password: "alice-pw", challenge: challenge)
        let second = await h.register(try registerRequest(cseq: 1, headers: Self.sipeHeaders + [answer]), auth: true)
        #expect(second.statusCode == 200)
        #expect(await h.registrar.lookup("alice@example.com").count == 1)
        // The next request with the same nonce counts nc up, as sipe does; a replay is refused.
        let next = Self.sipeAnswer(password: "alice-pw", challenge: challenge, nc: "00000002")
        #expect(await h.register(try registerRequest(cseq: 2, headers: Self.sipeHeaders + [next]), auth: true).statusCode == 200)
        #expect(await h.register(try registerRequest(cseq: 3, headers: Self.sipeHeaders + [next]), auth: true).statusCode == 407)
    }

    @Test func sipeWithAWrongPasswordIsChallengedAgain() async throws {
        let h = try await Harness()
        defer { h.remove() }
        let challenge = try #require(await h.register(try registerRequest(headers: Self.sipeHeaders), auth: true)
            .headers["Proxy-Authenticate"].first)
        let wrong = Self.sipeAnswer(password: "guess", challenge: challenge)
        #expect(await h.register(try registerRequest(cseq: 2, headers: Self.sipeHeaders + [wrong]), auth: true).statusCode == 407)
        #expect(await h.registrar.lookup("alice@example.com").isEmpty)
    }

    /// The allowance is sipe's alone: another client's `uri="(null)"` is refused, even with a
    /// response that proves the password over `(null)`.
    @Test func aNullURIFromAnyoneElseIsRefused() async throws {
        let h = try await Harness()
        defer { h.remove() }
        let first = await h.register(try registerRequest(), auth: true)
        #expect(first.statusCode == 401)
        let challenge = try #require(first.headers["WWW-Authenticate"].first)
        let answer = Self.sipeAnswer(user: "alice", password: "alice-pw", challenge: challenge, header: "Authorization")
        let refused = await h.register(try registerRequest(cseq: 2, headers: [answer]), auth: true)
        #expect(refused.statusCode == 400)
        #expect(await h.registrar.lookup("alice@example.com").isEmpty)
        // Nor in a Proxy-Authorization of another method.
        let message = try registerRequest(cseq: 3, expires: nil, method: "MESSAGE")
        guard case .respond(let proxyChallenge) = await h.authenticator.authenticate(message) else {
            Issue.record("a MESSAGE without credentials was not challenged")
            return
        }
        let header = try #require(proxyChallenge.headers["Proxy-Authenticate"].first)
        let signed = try registerRequest(cseq: 4, expires: nil,
                                         headers: [Self.sipeAnswer(user: "alice", password: "alice-pw", challenge: header,
                                                                   method: "MESSAGE")], method: "MESSAGE")
        guard case .respond(let refusal) = await h.authenticator.authenticate(signed) else {
            Issue.record("a non-sipe MESSAGE with uri=(null) was accepted")
            return
        }
        #expect(refusal.statusCode == 400)
    }

    /// Other clients' REGISTER is still challenged with 401 and answered only in
    /// Authorization: a Proxy-Authorization on a REGISTER does not count for them.
    @Test func otherClientsKeepTheRegisterChallengeAndHeader() async throws {
        let h = try await Harness()
        defer { h.remove() }
        let challenge = try #require(await h.register(try registerRequest(), auth: true).headers["WWW-Authenticate"].first)
        let inProxyHeader = authorization(password: "alice-pw", challenge: challenge, header: "Proxy-Authorization")
        #expect(await h.register(try registerRequest(cseq: 2, headers: [inProxyHeader]), auth: true).statusCode == 401)
        let proper = authorization(password: "alice-pw", challenge: challenge)
        #expect(await h.register(try registerRequest(cseq: 3, headers: [proper]), auth: true).statusCode == 200)
    }

    /// With the quirks off, sipe is treated like everyone else.
    @Test func quirksCanBeTurnedOff() async throws {
        let h = try await Harness(configureAuth: { $0.acceptLCSClientQuirks = false })
        defer { h.remove() }
        let first = await h.register(try registerRequest(headers: Self.sipeHeaders), auth: true)
        #expect(first.statusCode == 401)
    }
}
