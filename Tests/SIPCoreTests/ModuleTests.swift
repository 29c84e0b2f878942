import Testing
@testable import SIPCore

@Suite("Basic parsing")
struct BasicParsingTests {
    static let register = """
        REGISTER sip:example.com SIP/2.0\r
        v: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport\r
        Max-Forwards: 70\r
        t: Alice <sip:alice@example.com>\r
        f: "Alice" <sip:alice@example.com>;tag=1928301774\r
        i: a84b4c76e66710@pc33.example.com\r
        CSeq: 314159 REGISTER\r
        m: <sip:alice@192.0.2.1:5060;transport=udp>;expires=3600;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";reg-id=1\r
        l: 0\r
        \r

        """

    @Test func parsesRegisterWithCompactForms() throws {
        let m = try SIPParser.parseDatagram(Array(Self.register.utf8))
        let r = try #require(m.request)
        #expect(r.method == .register)
        #expect(r.uri.sipURI?.host == "example.com")
        #expect(r.headers.first("Via")?.hasPrefix("SIP/2.0/UDP") == true)
        #expect(r.headers.first("v") == r.headers.first("Via"))
        let via = try #require(try r.topVia)
        #expect(via.transport == "UDP")
        #expect(via.host == "192.0.2.1")
        #expect(via.port == 5060)
        #expect(via.branch == "z9hG4bK776asdhds")
        #expect(via.rport == .some(nil))
        #expect(r.from?.displayName == "Alice")
        #expect(r.from?.tag == "1928301774")
        #expect(r.to?.tag == nil)
        #expect(r.callID == "a84b4c76e66710@pc33.example.com")
        #expect(try r.cseq == CSeq(sequence: 314159, method: .register))
        #expect(r.maxForwards == 70)
        let contact = try #require(r.contacts.first)
        #expect(contact.expires == 3600)
        #expect(contact.regID == 1)
        #expect(contact.instance == "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>")
        #expect(contact.nameAddr?.uri.sipURI?.transport == "udp")
        #expect(!r.headers.contains("Content-Length"))
    }

    @Test func serializesCanonically() throws {
        let m = try SIPParser.parseDatagram(Array(Self.register.utf8))
        let text = String(decoding: m.serialized(), as: UTF8.self)
        #expect(text.hasPrefix("REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP"))
        #expect(text.contains("\r\nCall-ID: a84b4c76e66710@pc33.example.com\r\n"))
        #expect(text.hasSuffix("Content-Length: 0\r\n\r\n"))
        #expect(try SIPParser.parseDatagram(m.serialized()) == m)
    }

    @Test func respondingCopiesHeadersAndAddsToTag() throws {
        let r = try #require(try SIPParser.parseDatagram(Array(Self.register.utf8)).request)
        let resp = SIPResponse(responding: r, statusCode: 200, toTag: "xyz")
        #expect(resp.reasonPhrase == "OK")
        #expect(resp.to?.tag == "xyz")
        #expect(resp.headers.first("To") == "Alice <sip:alice@example.com>;tag=xyz")
        #expect(resp.headers["Via"] == r.headers["Via"])
        #expect(resp.callID == r.callID)
        let text = String(decoding: resp.serialized(), as: UTF8.self)
        #expect(text.hasPrefix("SIP/2.0 200 OK\r\n"))
        #expect(text.hasSuffix("Content-Length: 0\r\n\r\n"))
    }
}
