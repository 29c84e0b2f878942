import SIPCore
import Synchronization
import Testing
@testable import Roles

/// Records the source address each authentication was asked with.
final class SourceRecordingAuthenticator: RequestAuthenticator {
    let sources = Mutex<[String]>([])

    func authenticate(_ request: SIPRequest, source: RequestSource) -> AuthenticationOutcome {
        sources.withLock { $0.append(source.host) }
        return .refused(StatusAnswer(403, "Forbidden (too many failed attempts)"))
    }
}

/// The authenticate step hands the authenticator the request's source address, which
/// failed-attempt throttling is keyed by.
@Suite struct AuthenticationSourceTests {
    @Test func authenticateStepPassesTheSourceHost() async throws {
        let authenticator = SourceRecordingAuthenticator()
        let step = AuthenticateStep(identity: identity, authenticator: authenticator)
        let message = try request("""
        MESSAGE sip:bob@example.com SIP/2.0
        Via: SIP/2.0/UDP 198.51.100.9;branch=z9hG4bKs1
        Max-Forwards: 70
        From: <sip:alice@example.com>;tag=1
        To: <sip:bob@example.com>
        Call-ID: s1
        CSeq: 1 MESSAGE
        Content-Length: 0


        """)
        var context = RoutingContext(request: message, source: RequestSource(transport: .udp, host: "198.51.100.9", port: 5062))
        let decision = step.process(&context)
        #expect(decision == .respond(StatusAnswer(403, "Forbidden (too many failed attempts)")))
        #expect(authenticator.sources.withLock { $0 } == ["198.51.100.9"])
    }
}
