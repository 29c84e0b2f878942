import SIPCore
import Testing
@testable import Registrar
@testable import Store

/// Whoever does not know a user's password cannot tell from the answers whether the user
/// exists (RFC 3261 §26.1 threats; §22: the challenge does not depend on the user).
@Suite("No user enumeration through authentication")
struct UserEnumerationTests {
    /// The response as text with every nonce and the user's name replaced by placeholders.
    static func shape(_ response: SIPResponse, user: String) -> String {
        var text = String(decoding: SIPMessage.response(response).serialized(), as: UTF8.self)
        for value in response.headers["WWW-Authenticate"] + response.headers["Proxy-Authenticate"] {
            if let nonce = challengeParameter(value, "nonce") { text = text.replacingOccurrences(of: nonce, with: "NONCE") }
        }
        return text.replacingOccurrences(of: user, with: "USER")
    }

    /// A REGISTER for `user` whose credentials answer `challenge` with `password`.
    static func answered(_ user: String, password: String, challenge: String, method: String = "REGISTER",
                         header: String = "Authorization") throws -> SIPRequest {
        let credentials = authorization(user: user, password: password, challenge: challenge, method: method, header: header)
        if method == "REGISTER" { return try registerRequest(user, callID: "same-call", cseq: 2, headers: [credentials]) }
        return try registerRequest(user, callID: "same-call", cseq: 2, contacts: [], expires: nil, headers: [credentials], method: method)
    }

    /// REGISTER: an unknown user, a wrong password for alice, and a wrong password for the
    /// disabled bob get byte-identical answers (a 401 with a fresh challenge).
    @Test func registerAnswersAreIdentical() async throws {
        let h = try await Harness()
        defer { h.remove() }
        let challenge = await h.register(try registerRequest(), auth: true).headers["WWW-Authenticate"][0]
        let wrongPassword = await h.register(try Self.answered("alice", password: "guess", challenge: challenge), auth: true)
        let unknownUser = await h.register(try Self.answered("nobody", password: "guess", challenge: challenge), auth: true)
        let disabledUser = await h.register(try Self.answered("bob", password: "guess", challenge: challenge), auth: true)
        #expect(wrongPassword.statusCode == 401)
        #expect(Self.shape(unknownUser, user: "nobody") == Self.shape(wrongPassword, user: "alice"))
        #expect(Self.shape(disabledUser, user: "bob") == Self.shape(wrongPassword, user: "alice"))
    }

    /// The proxy path (a MESSAGE from one of our domains, RFC 3261 §22.3): the same 407.
    @Test func proxyAnswersAreIdentical() async throws {
        let h = try await Harness()
        defer { h.remove() }
        guard case .respond(let first) = await h.authenticator.authenticate(
            try registerRequest(contacts: [], expires: nil, method: "MESSAGE")) else {
            Issue.record("MESSAGE without credentials was accepted")
            return
        }
        let challenge = first.headers["Proxy-Authenticate"][0]
        func answer(_ user: String) async throws -> SIPResponse? {
            let request = try Self.answered(user, password: "guess", challenge: challenge, method: "MESSAGE", header: "Proxy-Authorization")
            guard case .respond(let response) = await h.authenticator.authenticate(request) else { return nil }
            return response
        }
        let wrongPassword = try #require(try await answer("alice"))
        let unknownUser = try #require(try await answer("nobody"))
        #expect(wrongPassword.statusCode == 407)
        #expect(Self.shape(unknownUser, user: "nobody") == Self.shape(wrongPassword, user: "alice"))
    }

    /// With the digest-uri check on, a mismatching uri is 400 whether or not the user exists.
    @Test func digestURIMismatchIsAnsweredBeforeTheUserIsLookedUp() async throws {
        let h = try await Harness(configureAuth: { $0.checkDigestURI = true })
        defer { h.remove() }
        let challenge = await h.register(try registerRequest(), auth: true).headers["WWW-Authenticate"][0]
        func answer(_ user: String) async throws -> SIPResponse {
            let credentials = authorization(user: user, password: "guess", challenge: challenge, uri: "sip:elsewhere.example")
            return await h.register(try registerRequest(user, callID: "same-call", cseq: 2, headers: [credentials]), auth: true)
        }
        let known = try await answer("alice")
        let unknown = try await answer("nobody")
        #expect(known.statusCode == 400)
        #expect(Self.shape(unknown, user: "nobody") == Self.shape(known, user: "alice"))
    }

    /// Throttling treats both alike: five failures, then the same 403.
    @Test func throttledAnswersAreIdentical() async throws {
        let h = try await Harness()
        defer { h.remove() }
        var last: [String: SIPResponse] = [:]
        for user in ["alice", "nobody"] {
            let source = user == "alice" ? "203.0.113.1" : "203.0.113.2"
            for i in 0..<6 {
                let first = await h.register(try registerRequest(user, cseq: 10 * i), auth: true, source: source)
                guard let challenge = first.headers["WWW-Authenticate"].first else { last[user] = first; continue }
                let request = try Self.answered(user, password: "guess\(i)", challenge: challenge)
                last[user] = await h.register(request, auth: true, source: source)
            }
        }
        let alice = try #require(last["alice"])
        let nobody = try #require(last["nobody"])
        #expect(alice.statusCode == 403)
        #expect(Self.shape(nobody, user: "nobody") == Self.shape(alice, user: "alice"))
    }
}
