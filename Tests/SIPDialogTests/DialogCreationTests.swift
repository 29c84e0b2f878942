import SIPCore
import Testing
@testable import SIPDialog

/// RFC 3261 §12.1: dialogs created by a UAS and by a UAC.
@Suite struct DialogCreationTests {
    /// §12.1.1 from a SUBSCRIBE (RFC 6665 §4.2.1): route set = Record-Route in order.
    @Test func uasFromSubscribe() throws {
        let d = try Dialog.uas(request: subscribe(), localTag: "ourtag")
        #expect(d.id == DialogID(callID: "sub1@client.example", localTag: "ourtag", remoteTag: "bobtag"))
        #expect(d.localURI.uri == URI("sip:alice@home.example"))
        #expect(d.localURI.tag == nil)
        #expect(d.remoteURI.uri == URI("sip:bob@client.example"))
        #expect(d.remoteURI.displayName == "Bob")
        #expect(d.remoteURI.tag == nil)
        #expect(d.remoteSeq == 7)
        #expect(d.localSeq >= 1 && d.localSeq <= Dialog.maxInitialLocalSeq)
        #expect(d.remoteTarget == URI("sip:bob@198.51.100.7:5062"))
        #expect(d.routeSet.map(\.uri) == [URI("sip:proxy2.example;transport=tcp;lr"), URI("sip:proxy1.example;lr")])
        #expect(!d.secure)
        #expect(d.nextHopURI == URI("sip:proxy2.example;transport=tcp;lr"))
    }

    /// §12.1.1: secure only for a sips Request-URI over TLS.
    @Test func uasSecureNeedsSipsAndTLS() throws {
        let sips = subscribe(uri: "sips:alice@home.example")
        #expect(try Dialog.uas(request: sips, localTag: "t", secureTransport: true).secure)
        #expect(try !Dialog.uas(request: sips, localTag: "t", secureTransport: false).secure)
        #expect(try !Dialog.uas(request: subscribe(), localTag: "t", secureTransport: true).secure)
    }

    @Test func uasWithoutRecordRouteHasEmptyRouteSet() throws {
        let d = try Dialog.uas(request: subscribe(recordRoutes: []), localTag: "t")
        #expect(d.routeSet.isEmpty)
        #expect(d.nextHopURI == URI("sip:bob@198.51.100.7:5062"))
    }

    @Test func uasWithoutContactIs400() {
        let error = #expect(throws: DialogError.self) { try Dialog.uas(request: subscribe(contact: nil), localTag: "t") }
        #expect(error?.status == 400)
        #expect(error?.code == .badContact)
    }

    @Test func uasWithTwoContactsIs400() {
        let two = subscribe(contact: "<sip:bob@198.51.100.7:5062>, <sip:bob@198.51.100.8>")
        let error = #expect(throws: DialogError.self) { try Dialog.uas(request: two, localTag: "t") }
        #expect(error?.status == 400)
        #expect(error?.code == .badContact)
    }

    @Test func uasWithoutFromTagIs400() {
        let error = #expect(throws: DialogError.self) { try Dialog.uas(request: subscribe(fromTag: nil), localTag: "t") }
        #expect(error?.status == 400)
        #expect(error?.code == .missingFromTag)
    }

    /// §12.1.2: route set = the response's Record-Route reversed; local seq = request CSeq.
    @Test func uacFromRequestAndResponse() throws {
        let invite = parseRequest("""
        SUBSCRIBE sips:alice@home.example SIP/2.0
        Via: SIP/2.0/TLS 192.0.2.1:5061;branch=z9hG4bKu1
        Max-Forwards: 70
        From: <sip:pa@home.example>;tag=patag
        To: <sip:alice@home.example>
        Call-ID: uac1@home.example
        CSeq: 41 SUBSCRIBE
        Contact: <sips:pa@192.0.2.1:5061>
        Event: presence
        Content-Length: 0


        """)
        let ok = parseResponse("""
        SIP/2.0 200 OK
        Via: SIP/2.0/TLS 192.0.2.1:5061;branch=z9hG4bKu1
        Record-Route: <sips:p2.example;lr>
        Record-Route: <sips:p1.example;lr>
        From: <sip:pa@home.example>;tag=patag
        To: <sip:alice@home.example>;tag=alicetag
        Call-ID: uac1@home.example
        CSeq: 41 SUBSCRIBE
        Contact: <sips:alice@203.0.113.9:5061>
        Expires: 600
        Content-Length: 0


        """)
        var d = try Dialog.uac(request: invite, response: ok)
        #expect(d.id == DialogID(callID: "uac1@home.example", localTag: "patag", remoteTag: "alicetag"))
        #expect(d.localSeq == 41)
        #expect(d.remoteSeq == nil)
        #expect(d.secure)
        #expect(d.remoteTarget == URI("sips:alice@203.0.113.9:5061"))
        #expect(d.routeSet.map(\.uri) == [URI("sips:p1.example;lr"), URI("sips:p2.example;lr")])
        #expect(d.remoteURI.tag == nil && d.localURI.tag == nil)

        let refresh = d.makeRequest(.subscribe, headers: [SIPHeaderField(name: "Event", value: "presence")])
        #expect(try refresh.cseq == CSeq(sequence: 42, method: .subscribe))
        #expect(refresh.from?.tag == "patag")
        #expect(refresh.to?.tag == "alicetag")
        #expect(refresh.uri == URI("sips:alice@203.0.113.9:5061"))
        #expect(refresh.routes.map(\.uri) == [URI("sips:p1.example;lr"), URI("sips:p2.example;lr")])
    }

    @Test func uacNeedsToTagAndContact() {
        let req = inDialog("SUBSCRIBE", cseq: 1)
        let noTag = SIPResponse(statusCode: 200, headers: [("To", "<sip:alice@home.example>"), ("Contact", "<sip:a@192.0.2.7>")])
        let missingTag = #expect(throws: DialogError.self) { try Dialog.uac(request: req, response: noTag) }
        #expect(missingTag?.code == .missingToTag)
        #expect(missingTag?.status == nil)
        let noContact = SIPResponse(statusCode: 200, headers: [("To", "<sip:alice@home.example>;tag=x")])
        let missingContact = #expect(throws: DialogError.self) { try Dialog.uac(request: req, response: noContact) }
        #expect(missingContact?.code == .badContact)
    }
}
