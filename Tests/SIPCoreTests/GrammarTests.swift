import Testing
@testable import SIPCore

private func parse(_ text: String, limits: SIPParseLimits = .default) throws(SIPParseError) -> SIPMessage {
    try SIPParser.parseDatagram(Array(text.utf8), limits: limits)
}

private let minimal = "OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h.example.com;branch=z9hG4bK1\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.com>\r\nFrom: <sip:alice@example.com>;tag=1\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n"

@Suite("Headers and grammar (RFC 3261 §7.3, §25)")
struct GrammarTests {
    @Test func foldingAndCommaSplitting() throws {
        let m = try parse(minimal + "Route: <sip:p1.example.com;lr>,\r\n   <sip:p2.example.com;lr>\r\nAllow: INVITE,ACK ,\tOPTIONS\r\nSubject: a,\r\n\tb\r\n\r\n")
        #expect(m.headers["Route"] == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"])
        #expect(m.routes.map { $0.uri.sipURI!.host } == ["p1.example.com", "p2.example.com"])
        #expect(m.allow == [.invite, .ack, .options])
        #expect(m.headers.first("Subject") == "a, b")
        #expect(m.headers["Subject"] == ["a, b"])  // not a list header
    }

    @Test func commasInsideQuotesAndBrackets() throws {
        let m = try parse(minimal + "Contact: \"Bell, Alexander \\\"A\\\"\" <sip:a,b@example.com;x=1>;q=0.5, <sip:b@example.com>\r\n\r\n")
        let contacts = m.contacts
        #expect(contacts.count == 2)
        #expect(contacts[0].nameAddr?.displayName == "Bell, Alexander \"A\"")
        #expect(contacts[0].q == 0.5)
        #expect(contacts[1].nameAddr?.uri.sipURI?.user == "b")
        let big = try parse(minimal + "Contact: <sip:c@example.com>;expires=99999999999, <sip:d@example.com>;expires=soon\r\n\r\n")
        #expect(big.contacts.map(\.expires) == [4294967295, nil])
    }

    @Test func compactFormsAndCaseInsensitiveNames() throws {
        let m = try parse("INVITE sip:b@example.com SIP/2.0\r\nv: SIP/2.0/TCP [2001:db8::1]:5070;branch=z9hG4bKx;received=[2001:db8::9];rport=5071\r\nf: <sip:a@example.com>;tag=9\r\nt: sip:b@example.com\r\ni: x@y\r\ncseq: 2 INVITE\r\nm: *\r\nc: application/sdp\r\nk: path, outbound\r\no: presence;id=7\r\nu: presence, message-summary\r\ne: gzip\r\nl: 4\r\n\r\nbody")
        #expect(m.headers.first("Via") == m.headers.first("v"))
        let via = try #require(try m.topVia)
        #expect(via.host == "[2001:db8::1]")
        #expect(via.port == 5070)
        #expect(via.received == "[2001:db8::9]")
        #expect(via.rport == .some(5071))
        #expect(m.contacts == [.wildcard])
        #expect(m.contentType == ContentType(type: "application", subtype: "sdp"))
        #expect(m.supported == ["path", "outbound"])
        #expect(m.event?.package == "presence")
        #expect(m.event?.id == "7")
        #expect(m.allowEvents == ["presence", "message-summary"])
        #expect(m.headers.first("Content-Encoding") == "gzip")
        #expect(m.body == Array("body".utf8))
        #expect(m.headers.map(\.name) == ["Via", "From", "To", "Call-ID", "CSeq", "Contact", "Content-Type", "Supported",
                                          "Event", "Allow-Events", "Content-Encoding"])
    }

    @Test func typedExtensionHeaders() throws {
        let m = try parse(minimal + "Subscription-State: terminated;reason=timeout;retry-after=30\r\nSIP-ETag: dx200xyz\r\nSIP-If-Match: abc\r\nMin-Expires: 60\r\nExpires: 99999999999999\r\nUnsupported: foo\r\nPath: <sip:edge.example.com;lr>\r\nWWW-Authenticate: Digest realm=\"example.com\", nonce=\"n1,2\", qop=\"auth,auth-int\", algorithm=MD5, stale=TRUE\r\nProxy-Authorization: Digest username=\"alice\", realm=\"example.com\", nonce=\"n\", uri=\"sip:example.com\", response=\"0123\", qop=auth, nc=00000001, cnonce=\"c\"\r\n\r\n")
        let s = try #require(m.subscriptionState)
        #expect(s.state == "terminated")
        #expect(s.reason == "timeout")
        #expect(s.retryAfter == 30)
        #expect(m.sipETag == "dx200xyz")
        #expect(m.sipIfMatch == "abc")
        #expect(m.minExpires == 60)
        #expect(m.expires == 4294967295)
        #expect(m.unsupported == ["foo"])
        #expect(m.paths.first?.uri.sipURI?.hasLR == true)
        let ch = try #require(m.wwwAuthenticates.first)
        #expect(ch.isDigest && ch.realm == "example.com" && ch.nonce == "n1,2" && ch.stale)
        #expect(ch.qop == ["auth", "auth-int"])
        #expect(ch.algorithm == "MD5")
        let cr = try #require(m.proxyAuthorizations.first)
        #expect(cr.username == "alice" && cr.uri == "sip:example.com" && cr.response == "0123")
        #expect(cr.qop == "auth" && cr.nc == "00000001" && cr.cnonce == "c")
        let built = DigestChallenge(realm: "r", nonce: "n", opaque: "o")
        #expect(try DigestChallenge.parse(built.description) == built)
        let creds = DigestCredentials(username: "u", realm: "r", nonce: "n", uri: "sip:r", response: "abc", qop: "auth", nc: "00000001")
        #expect(try DigestCredentials.parse(creds.description) == creds)
    }

    @Test func displayNames() throws {
        #expect(try NameAddr.parse("Bob Smith <sip:bob@x>").displayName == "Bob Smith")
        #expect(try NameAddr.parse("caller<sip:caller@example.com>;tag=323").displayName == "caller")
        #expect(try NameAddr.parse("\"\" <sip:bob@x>").displayName == "")
        #expect(try NameAddr.parse("sip:bob@x;tag=1").displayName == nil)
        #expect(try NameAddr.parse("sip:bob@x;tag=1").tag == "1")
        let odd = try NameAddr.parse("\"a\\\"b\\\\c\u{7}\" <sip:x@y>")
        #expect(odd.displayName == "a\"b\\c\u{7}")
        #expect(try NameAddr.parse(odd.description) == odd)
        #expect(throws: SIPParseError.self) { try NameAddr.parse("\"unterminated <sip:x@y>") }
        #expect(throws: SIPParseError.self) { try NameAddr.parse("<sip:x@y") }
        #expect(throws: SIPParseError.self) { try NameAddr.parse("<sip:x@y>;") }
        #expect(throws: SIPParseError.self) { try NameAddr.parse("sip:x@y?a=b") }
    }

    @Test func headerEditing() throws {
        var h: SIPHeaders = [("Via", "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2"), ("v", "SIP/2.0/UDP c;branch=z9hG4bK3"), ("To", "<sip:x@y>")]
        #expect(h["via"].count == 3)
        h.insertFirst("Via", "SIP/2.0/UDP top;branch=z9hG4bK0")
        #expect(h.first("Via") == "SIP/2.0/UDP top;branch=z9hG4bK0")
        h.removeFirstValue("Via")
        h.removeFirstValue("Via")
        #expect(h["Via"] == ["SIP/2.0/UDP b;branch=z9hG4bK2", "SIP/2.0/UDP c;branch=z9hG4bK3"])
        h.replace("Max-Forwards", with: "69")
        h.replace("via", with: "SIP/2.0/UDP only;branch=z9hG4bK9")
        #expect(h.map(\.name) == ["Via", "To", "Max-Forwards"])
        h.removeAll("t")
        #expect(!h.contains("To"))
    }

    @Test func startLines() throws {
        #expect(throws: SIPParseError(status: 505, reason: "SIP version SIP/3.0 not supported")) {
            try parse("OPTIONS sip:a@b SIP/3.0\r\n\r\n")
        }
        let r = try parse("SIP/2.0 180 Ringing and more words\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\n\r\n")
        #expect(r.response?.reasonPhrase == "Ringing and more words")
        #expect(r.response?.statusCode == 180)
        for bad in ["SIP/2.0 99 Low\r\n\r\n", "SIP/2.0 2000 OK\r\n\r\n", "SIP/3.0 200 OK\r\n\r\n", "SIP/2.0 200 OK\r\nCSeq: x\r\n\r\n"] {
            #expect(throws: SIPParseError.self) { try parse(bad) }
            do { _ = try parse(bad) } catch { #expect(error.isDrop) }
        }
        #expect(throws: SIPParseError.badRequest("Header line without a colon")) { try parse("OPTIONS sip:a@b SIP/2.0\r\nBad Header\r\n\r\n") }
    }

    @Test func limits() throws {
        let small = SIPParseLimits(maxMessageSize: 300, maxHeaderCount: 8, maxHeaderLineLength: 100, maxURILength: 20, maxViaCount: 2)
        let big = minimal + "X: " + String(repeating: "a", count: 400) + "\r\n\r\n"
        #expect(throws: SIPParseError.self) { try parse(big, limits: small) }
        do { _ = try parse(big, limits: small) } catch { #expect(error.status == 413) }
        do { _ = try parse("OPTIONS sip:aaaaaaaaaaaaaaaaaaaaaaaaa@b SIP/2.0\r\n\r\n", limits: small) } catch { #expect(error.status == 414) }
        let manyVias = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP a, SIP/2.0/UDP b, SIP/2.0/UDP c\r\n\r\n"
        #expect(throws: SIPParseError.badRequest("More than 2 Via values")) { try parse(manyVias, limits: small) }
        let manyHeaders = "OPTIONS sip:a@b SIP/2.0\r\n" + String(repeating: "X: y\r\n", count: 9) + "\r\n"
        #expect(throws: SIPParseError.badRequest("More than 8 header fields")) { try parse(manyHeaders, limits: small) }
        let longLine = "OPTIONS sip:a@b SIP/2.0\r\nX: " + String(repeating: "y", count: 120) + "\r\n\r\n"
        #expect(throws: SIPParseError.badRequest("Header value exceeds 100 bytes")) { try parse(longLine, limits: small) }
        #expect(SIPParseLimits.default.maxMessageSize == 65536)
        #expect(SIPParseLimits.default.maxHeaderCount == 256)
    }

    /// Found by the fuzzer: a bare CR inside a line, or invalid UTF-8 in a header value,
    /// could not be serialized back as received, so the message is rejected.
    @Test func bareCRAndInvalidUTF8() throws {
        #expect(throws: SIPParseError.badRequest("Bare CR in header line")) { try parse(minimal + "Subject: a\rb\r\n\r\n") }
        #expect(throws: SIPParseError.badRequest("Header value is not valid UTF-8")) {
            try SIPParser.parseDatagram(Array((minimal + "Subject: ").utf8) + [0xC3, 0x28] + Array("\r\n\r\n".utf8))
        }
        let utf8 = try parse(minimal + "Subject: caf\u{E9} \u{65E5}\r\n\r\n")
        #expect(utf8.headers.first("Subject") == "caf\u{E9} \u{65E5}")
        let drop = #expect(throws: SIPParseError.self) { try SIPParser.parseDatagram(Array("SIP/2.0 200 O".utf8) + [0xFF] + Array("\r\n\r\n".utf8)) }
        #expect(drop?.isDrop == true)
    }

    @Test func datagramFraming() throws {
        let m = try parse(minimal + "Content-Length: 3\r\n\r\nabcdef")
        #expect(m.body == Array("abc".utf8))
        let noLength = try parse(minimal + "\r\nabcdef")
        #expect(noLength.body == Array("abcdef".utf8))
        #expect(throws: SIPParseError.badRequest("Malformed Content-Length")) { try parse(minimal + "Content-Length: -1\r\n\r\n") }
    }
}
