import SIPCore
import SIPTransaction
import Testing
@testable import Roles

/// RFC 3261 §16.4 route preprocessing and §16.6 forwarding.
@Suite struct RouteProcessingTests {
    @Test func ownLooseRouteIsRemoved() throws {
        var r = try invite(extra: "Route: <sip:192.0.2.10:5060;lr>, <sip:other.example.net;lr>\n")
        let result = RouteProcessing.preprocess(&r, identity: identity)
        #expect(result.ownRoutesRemoved == 1)
        #expect(r.headers["Route"] == ["<sip:other.example.net;lr>"])
        #expect(r.uri == URI("sip:bob@example.com"))
    }

    @Test func doubleRecordRouteValuesAreBothRemoved() throws {
        var r = try invite(extra: "Route: <sip:192.0.2.10:5060;transport=tcp;lr>\nRoute: <sip:192.0.2.10;lr>\n")
        let result = RouteProcessing.preprocess(&r, identity: identity)
        #expect(result.ownRoutesRemoved == 2)
        #expect(r.headers["Route"].isEmpty)
    }

    @Test func foreignRouteIsKept() throws {
        var r = try invite(extra: "Route: <sip:other.example.net;lr>\n")
        let result = RouteProcessing.preprocess(&r, identity: identity)
        #expect(result.ownRoutesRemoved == 0)
        #expect(r.headers["Route"] == ["<sip:other.example.net;lr>"])
    }

    /// A strict router upstream put our Record-Route URI into the Request-URI: the last Route
    /// value is the real Request-URI.
    @Test func strictRouteFixUp() throws {
        var r = try invite(uri: "sip:192.0.2.10:5060;lr", extra: "Route: <sip:bob@198.51.100.7>\n")
        let result = RouteProcessing.preprocess(&r, identity: identity)
        #expect(result.strictRouteFixedUp)
        #expect(r.uri == URI("sip:bob@198.51.100.7"))
        #expect(r.headers["Route"].isEmpty)
    }

    @Test func forwardingRewritesRequestURIAndMaxForwards() throws {
        let r = try invite(extra: "Record-Route: <sip:upstream.example.net;lr>\n")
        let f = try #require(RequestForwarding.forward(
            r, to: ForwardTarget(uri: URI("sip:bob@198.51.100.2:5062;transport=tcp")!), identity: identity,
            inbound: .udp, recordRoute: true, loopHash: BranchParameter.loopHash(of: r), seed: "s", fork: 0))
        #expect(f.request.uri == URI("sip:bob@198.51.100.2:5062;transport=tcp"))
        #expect(f.request.headers.first("Max-Forwards") == "69")
        #expect(f.nextHop == NextHop(transport: .tcp, host: "198.51.100.2", port: 5062))
        // Transport changes from UDP to TCP: two Record-Route values (RFC 5658), ours on top.
        // Each of ours carries the dialog token of the request (DialogRouteToken).
        let token = DialogRouteToken.make(for: r, caller: nil, callee: SIPHostPort(host: "198.51.100.2", port: 5062))
        #expect(f.request.headers["Record-Route"] == ["<sip:192.0.2.10:5060;transport=tcp;lr;dlg=\(token)>",
                                                      "<sip:192.0.2.10:5060;lr;dlg=\(token)>",
                                                      "<sip:upstream.example.net;lr>"])
        let top = try #require(f.request.headers["Via"].first)
        #expect(top.hasPrefix("SIP/2.0/TCP 192.0.2.10:5060;branch=z9hG4bK"))
        #expect(f.request.headers["Via"].count == 2)
        #expect(BranchParameter.loopHash(inBranch: f.branch).map(String.init) == BranchParameter.loopHash(of: r))
    }

    @Test func missingMaxForwardsBecomes70() throws {
        let r = try invite(maxForwards: nil)
        let f = try #require(RequestForwarding.forward(
            r, to: ForwardTarget(uri: r.uri), identity: identity, inbound: .udp, recordRoute: false,
            loopHash: "0000000000000000", seed: "s", fork: 0))
        #expect(f.request.headers.first("Max-Forwards") == "70")
        #expect(f.request.headers["Record-Route"].isEmpty)
    }

    @Test func forksGetDistinctBranches() throws {
        let r = try invite()
        let hash = BranchParameter.loopHash(of: r)
        let branches = (0..<3).compactMap {
            RequestForwarding.forward(r, to: ForwardTarget(uri: r.uri), identity: identity, inbound: .udp,
                                      recordRoute: false, loopHash: hash, seed: "s", fork: $0)?.branch
        }
        #expect(Set(branches).count == 3)
    }

    @Test func pathBecomesRouteAndNextHop() throws {
        let r = try request("""
        MESSAGE sip:bob@example.com SIP/2.0
        Via: SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKm1
        Max-Forwards: 70
        From: <sip:alice@example.com>;tag=1
        To: <sip:bob@example.com>
        Call-ID: m1
        CSeq: 1 MESSAGE
        Content-Length: 0


        """)
        let target = ForwardTarget(uri: URI("sip:bob@10.0.0.5:5070")!, path: ["<sip:edge.example.com:5080;lr>"])
        let f = try #require(RequestForwarding.forward(r, to: target, identity: identity, inbound: .udp,
                                                       recordRoute: RequestForwarding.shouldRecordRoute(r),
                                                       loopHash: "0000000000000000", seed: "s", fork: 0))
        #expect(f.request.headers["Route"] == ["<sip:edge.example.com:5080;lr>"])
        #expect(f.nextHop == NextHop(transport: .udp, host: "edge.example.com", port: 5080))
        #expect(f.request.headers["Record-Route"].isEmpty)  // MESSAGE creates no dialog
    }

    @Test func strictNextHopGetsRequestURIAsLastRoute() throws {
        let r = try invite(extra: "Route: <sip:strict.example.net>\n")
        let f = try #require(RequestForwarding.forward(r, to: ForwardTarget(uri: r.uri), identity: identity,
                                                       inbound: .udp, recordRoute: false,
                                                       loopHash: "0000000000000000", seed: "s", fork: 0))
        #expect(f.request.uri == URI("sip:strict.example.net"))
        #expect(f.request.headers["Route"] == ["<sip:bob@example.com>"])
        #expect(f.nextHop.host == "strict.example.net")
    }

    @Test func recordRouteOnlyOnDialogCreatingRequestsOutsideDialogs() throws {
        #expect(RequestForwarding.shouldRecordRoute(try invite()))
        var reinvite = try invite()
        reinvite.headers.replace("To", with: "<sip:bob@example.com>;tag=b")
        #expect(!RequestForwarding.shouldRecordRoute(reinvite))
    }
}
