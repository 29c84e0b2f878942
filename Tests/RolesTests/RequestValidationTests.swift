import SIPCore
import Testing
@testable import Roles

/// RFC 3261 §16.3 request validation.
@Suite struct RequestValidationTests {
    /// One Via (straight from a UA): nothing of ours to check, so no loop hash yet.
    @Test func validRequestPasses() throws {
        let outcome = RequestValidation.validate(try invite(), identity: identity)
        #expect(outcome == .valid(loopHash: nil))
    }

    @Test func secondViaMakesValidationComputeTheLoopHash() throws {
        let r = try invite(extra: "Via: SIP/2.0/UDP 198.51.100.9;branch=z9hG4bKfirst\n")
        #expect(RequestValidation.validate(r, identity: identity) == .valid(loopHash: BranchParameter.loopHash(of: r)))
    }

    @Test(arguments: ["1 BYE", "x INVITE", "1INVITE", "99999999999 INVITE", "1 INVITE extra"])
    func badCSeqIs400(cseq: String) throws {
        var r = try invite()
        r.headers.replace("CSeq", with: cseq)
        guard case .reject(let answer) = RequestValidation.validate(r, identity: identity) else {
            Issue.record("expected reject for \(cseq)"); return
        }
        #expect(answer.status == 400)
    }

    @Test func maxForwardsZeroIs483() throws {
        let outcome = RequestValidation.validate(try invite(maxForwards: "0"), identity: identity)
        #expect(outcome == .reject(StatusAnswer(483)))
    }

    @Test func optionsAtMaxForwardsZeroIsAnsweredLocally() throws {
        let r = try request("""
        OPTIONS sip:bob@example.com SIP/2.0
        Via: SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKo1
        Max-Forwards: 0
        From: <sip:alice@example.com>;tag=1
        To: <sip:bob@example.com>
        Call-ID: o1
        CSeq: 7 OPTIONS
        Content-Length: 0


        """)
        #expect(RequestValidation.validate(r, identity: identity) == .answerOptionsLocally)
    }

    @Test func missingMaxForwardsPasses() throws {
        let outcome = RequestValidation.validate(try invite(maxForwards: nil), identity: identity)
        if case .valid = outcome {} else { Issue.record("expected valid, got \(outcome)") }
    }

    @Test func unsupportedProxyRequireIs420ListingTags() throws {
        let outcome = RequestValidation.validate(try invite(extra: "Proxy-Require: foo, bar\n"), identity: identity)
        guard case .reject(let answer) = outcome else { Issue.record("expected reject"); return }
        #expect(answer.status == 420)
        #expect(answer.headers == [SIPHeaderField(name: "Unsupported", value: "foo, bar")])
    }

    @Test func supportedProxyRequirePasses() throws {
        var id = identity
        id.supportedProxyRequire = ["foo"]
        let outcome = RequestValidation.validate(try invite(extra: "Proxy-Require: foo\n"), identity: id)
        if case .valid = outcome {} else { Issue.record("expected valid, got \(outcome)") }
    }

    @Test(arguments: ["tel:+15551234", "mailto:bob@example.com", "im:bob@example.com"])
    func unknownSchemeIs416(uri: String) throws {
        let outcome = RequestValidation.validate(try invite(uri: uri), identity: identity)
        #expect(outcome == .reject(StatusAnswer(416)))
    }

    @Test(arguments: ["To", "From", "Call-ID", "CSeq"])
    func duplicateMandatoryHeaderIs400(name: String) throws {
        let value = ["To": "<sip:carol@example.com>", "From": "<sip:eve@example.com>;tag=9",
                     "Call-ID": "other", "CSeq": "2 INVITE"][name]!
        let outcome = RequestValidation.validate(try invite(extra: "\(name): \(value)\n"), identity: identity)
        guard case .reject(let answer) = outcome else { Issue.record("expected reject"); return }
        #expect(answer.status == 400)
    }

    @Test func missingCallIDIs400() throws {
        var r = try invite()
        r.headers.removeAll("Call-ID")
        guard case .reject(let answer) = RequestValidation.validate(r, identity: identity) else {
            Issue.record("expected reject"); return
        }
        #expect(answer.status == 400)
    }

    /// A request we forwarded that comes back unchanged has looped: 482.
    @Test func loopIsDetected() throws {
        let original = try invite()
        guard case .valid(let hash) = RequestValidation.validate(original, identity: identity) else {
            Issue.record("expected valid"); return
        }
        let forwarded = try #require(RequestForwarding.forward(
            original, to: ForwardTarget(uri: original.uri), identity: identity, inbound: .udp,
            recordRoute: false, loopHash: hash ?? BranchParameter.loopHash(of: original), seed: "z9hG4bKclient1", fork: 0))
        // It comes back with the same Request-URI (a misconfigured next hop sends it back).
        var back = forwarded.request
        back.uri = original.uri
        #expect(RequestValidation.validate(back, identity: identity) == .reject(StatusAnswer(482)))
    }

    /// The same request coming back with a different Request-URI is spiralling, not looping.
    @Test func spiralIsNotALoop() throws {
        let original = try invite()
        guard case .valid(let hash) = RequestValidation.validate(original, identity: identity) else {
            Issue.record("expected valid"); return
        }
        let forwarded = try #require(RequestForwarding.forward(
            original, to: ForwardTarget(uri: URI("sip:bob@192.0.2.10:5060")!), identity: identity, inbound: .udp,
            recordRoute: false, loopHash: hash ?? BranchParameter.loopHash(of: original), seed: "z9hG4bKclient1", fork: 0))
        let outcome = RequestValidation.validate(forwarded.request, identity: identity)
        if case .valid = outcome {} else { Issue.record("expected valid (spiral), got \(outcome)") }
    }
}
