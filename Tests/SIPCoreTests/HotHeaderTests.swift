import Testing
@testable import SIPCore

/// Header values kept as ranges of the received bytes, and the hot headers' typed values the
/// parser carries with a message (issue 7 "Bytes once"): they must read as the header list
/// says, before and after any edit.
@Suite("Hot headers")
struct HotHeaderTests {
    static let register = """
        REGISTER sip:example.com SIP/2.0\r
        Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-524287-1---a4d1f0e0c2b1;rport\r
        Via: SIP/2.0/TCP proxy.example.com;branch=z9hG4bKsecond\r
        Max-Forwards: 70\r
        Contact: <sip:alice@192.0.2.10:5060;transport=udp>;+sip.instance="<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>";reg-id=1\r
        m: <sip:alice@198.51.100.7>;expires=60, *\r
        To: <sip:alice@example.com>\r
        From: "Alice" <sip:alice@example.com>;tag=9fxced76sl\r
        Call-ID: 3848276298220188511@192.0.2.10\r
        CSeq: 2 REGISTER\r
        Expires: 3600\r
        X-Long-Unknown-Header-Name: folded\r
         continuation value\r
        Content-Length: 0\r
        \r

        """

    static func parsed() throws -> SIPRequest {
        try #require(try SIPParser.parseDatagram(Array(register.utf8)).request)
    }

    /// What the accessors give for a copy of `r` rebuilt by hand (no ranges, no cache).
    static func rebuilt(_ r: SIPRequest) -> SIPRequest {
        SIPRequest(method: r.method, uri: r.uri, headers: SIPHeaders(r.headers.fields), body: r.body)
    }

    static func expectSameTypedValues(_ a: SIPRequest, _ b: SIPRequest) throws {
        #expect(try a.topVia == b.topVia)
        #expect(try a.vias == b.vias)
        #expect(a.from == b.from)
        #expect(a.to == b.to)
        #expect(try a.cseq == b.cseq)
        #expect(a.callID == b.callID)
        #expect(a.contacts == b.contacts)
        #expect(a.maxForwards == b.maxForwards)
        #expect(a.expires == b.expires)
        #expect(a.routes == b.routes)
        #expect(a.headers == b.headers)
        #expect(a.headers.hashValue == b.headers.hashValue)
    }

    @Test func parsedValuesMatchTheHeaderList() throws {
        let r = try Self.parsed()
        #expect(r.headers.hot != nil)
        let via = try #require(try r.topVia)
        #expect(via.branch == "z9hG4bK-524287-1---a4d1f0e0c2b1")
        #expect(via.host == "192.0.2.10")
        #expect(try r.vias.count == 2)
        #expect(r.from?.tag == "9fxced76sl")
        #expect(r.from?.displayName == "Alice")
        #expect(r.to?.tag == nil)
        #expect(try r.cseq == CSeq(sequence: 2, method: .register))
        #expect(r.callID == "3848276298220188511@192.0.2.10")
        #expect(r.contacts.count == 3)
        #expect(r.contacts[0].regID == 1)
        #expect(r.contacts[1].expires == 60)
        #expect(r.contacts[2].isWildcard)
        #expect(r.maxForwards == 70)
        #expect(r.expires == 3600)
        #expect(r.headers.first("x-long-unknown-header-name") == "folded continuation value")
        try Self.expectSameTypedValues(r, Self.rebuilt(r))
    }

    @Test func editsKeepTypedValuesCoherent() throws {
        var r = try Self.parsed()
        r.headers.insertFirst("Via", "SIP/2.0/UDP edge.example.net;branch=z9hG4bKnew")
        #expect(try r.topVia?.branch == "z9hG4bKnew")
        r.headers.removeFirstValue("Via")
        #expect(try r.topVia?.branch == "z9hG4bK-524287-1---a4d1f0e0c2b1")
        r.headers.removeFirstValue("v")
        #expect(try r.topVia?.branch == "z9hG4bKsecond")
        r.headers.replace("From", with: "<sip:bob@example.com>;tag=b1")
        #expect(r.from?.tag == "b1")
        r.headers.replace("t", with: "<sip:carol@example.com>;tag=c1")
        #expect(r.to?.tag == "c1")
        r.headers.replace("CSeq", with: "3 REGISTER")
        #expect(try r.cseq?.sequence == 3)
        r.headers.replace("Max-Forwards", with: "69")
        #expect(r.maxForwards == 69)
        r.headers.removeAll("Expires")
        #expect(r.expires == nil)
        r.headers.append("Expires", "10")
        #expect(r.expires == 10)
        r.headers.removeAll("Contact")
        #expect(r.contacts.isEmpty)
        r.headers.append("m", "<sip:alice@192.0.2.99>")
        #expect(r.contacts.count == 1)
        let i = try #require(r.headers.firstIndex { $0.name == "Call-ID" })
        r.headers.setField(at: i, SIPHeaderField(name: "i", value: "new-call-id"))
        #expect(r.callID == "new-call-id")
        r.headers.replace("Call-ID", with: "replaced-call-id")
        #expect(r.callID == "replaced-call-id")
        let k = try #require(r.headers.firstIndex { $0.name == "Call-ID" })
        r.headers.remove(at: k)
        #expect(r.callID == nil)
        r.headers.append("i", "appended-call-id")
        #expect(r.callID == "appended-call-id")
        let j = try #require(r.headers.firstIndex { $0.name == "CSeq" })
        r.headers.remove(at: j)
        #expect(try r.cseq == nil)
        try Self.expectSameTypedValues(r, Self.rebuilt(r))
        // The edits went through the message too.
        var m = SIPMessage.request(try Self.parsed())
        m.headers.removeFirstValue("Via")
        #expect(try m.topVia?.branch == "z9hG4bKsecond")
    }

    @Test func copiesAreIndependent() throws {
        let a = try Self.parsed()
        var b = a
        b.headers.replace("From", with: "<sip:bob@example.com>;tag=b1")
        #expect(a.from?.tag == "9fxced76sl")
        #expect(b.from?.tag == "b1")
        #expect(a.headers != b.headers)
    }

    @Test func responseSharesTheRequestBytes() throws {
        let r = try Self.parsed()
        let resp = SIPResponse(responding: r, statusCode: 200, toTag: "totag")
        #expect(resp.headers["Via"] == r.headers["Via"])
        #expect(resp.from == r.from)
        #expect(resp.to?.tag == "totag")
        #expect(resp.callID == r.callID)
        #expect(try resp.cseq == r.cseq)
        let back = try #require(try SIPParser.parseDatagram(resp.serialized()).response)
        #expect(back.headers == resp.headers)
        #expect(back == resp)
    }

    @Test func handBuiltAndParsedHeadersAreEqual() throws {
        let text = "OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nFrom: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nMax-Forwards: 70\r\n\r\n"
        let parsed = try #require(try SIPParser.parseDatagram(Array(text.utf8)).request)
        var built = SIPRequest(method: .options, uri: try #require(URI("sip:a@example.com")))
        built.headers = [("Via", "SIP/2.0/UDP h;branch=z9hG4bK1"), ("i", "c"), ("CSeq", "1 OPTIONS"),
                         ("f", "<sip:b@example.com>;tag=1"), ("To", "<sip:a@example.com>"), ("Max-Forwards", "70")]
        #expect(parsed == built)
        #expect(parsed.hashValue == built.hashValue)
        #expect(Set([parsed, built]).count == 1)
    }

    /// The parser's cached values equal what the accessors compute from the header list alone.
    static func expectCacheMatchesList(_ m: SIPMessage, _ context: String) {
        let plain = SIPHeaders(m.headers.fields)
        #expect(plain.hot == nil)
        struct View: SIPHeaderAccess { var headers: SIPHeaders; var body: [UInt8] }
        let a = View(headers: m.headers, body: m.body), b = View(headers: plain, body: m.body)
        #expect((try? a.topVia) == (try? b.topVia), "\(context)")
        #expect((try? a.cseq) == (try? b.cseq), "\(context)")
        #expect(a.from == b.from, "\(context)")
        #expect(a.to == b.to, "\(context)")
        #expect(a.contacts == b.contacts, "\(context)")
        #expect(a.maxForwards == b.maxForwards, "\(context)")
        #expect(a.expires == b.expires, "\(context)")
        #expect(a.callID == b.callID, "\(context)")
        #expect(a.headers == b.headers, "\(context)")
    }

    @Test(arguments: Fixtures.rows.map(\.file) + Fixtures.fuzzFindings)
    func cacheMatchesListOnFixtures(_ file: String) {
        guard let m = try? SIPParser.parseDatagram(Fixtures.bytes(file)) else { return }
        Self.expectCacheMatchesList(m, file)
    }

    @Test(arguments: 0..<5)
    func cacheMatchesListOnGeneratedMessages(_ batch: Int) throws {
        var gen = MessageGenerator(seed: 0x407_0000 + UInt64(batch))
        for _ in 0..<50 {
            let bytes = gen.message().serialized()
            guard let m = try? SIPParser.parseDatagram(bytes) else { continue }
            Self.expectCacheMatchesList(m, String(decoding: bytes, as: UTF8.self))
        }
    }
}
