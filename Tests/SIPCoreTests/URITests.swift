import Testing
@testable import SIPCore

@Suite("URIs (RFC 3261 §19.1, RFC 3966, RFC 5118)")
struct URITests {
    @Test func sipURIComponents() throws {
        let u = try #require(SIPURI("sips:alice:secret@example.com:5061;transport=tcp;lr?subject=hi&priority=urgent"))
        #expect(u.secure)
        #expect(u.user == "alice")
        #expect(u.password == "secret")
        #expect(u.host == "example.com")
        #expect(u.port == 5061)
        #expect(u.transport == "tcp")
        #expect(u.hasLR)
        #expect(u.parameter("lr") == .some(nil))
        #expect(u.parameter("nope") == nil)
        #expect(u.headers == [SIPParameter(name: "subject", value: "hi"), SIPParameter(name: "priority", value: "urgent")])
        #expect(u.description == "sips:alice:secret@example.com:5061;transport=tcp;lr?subject=hi&priority=urgent")
    }

    @Test(arguments: [
        ("sip:[2001:db8::10]:5070", "[2001:db8::10]", 5070 as Int?),
        ("sip:[2001:db8::10:5070]", "[2001:db8::10:5070]", nil),
        ("sip:user@192.0.2.1", "192.0.2.1", nil),
        ("sip:[2001:db8:::192.0.2.1]", "[2001:db8:::192.0.2.1]", nil),
    ])
    func hosts(_ text: String, _ host: String, _ port: Int?) throws {
        let u = try #require(SIPURI(text))
        #expect(u.host == host)
        #expect(u.port == port)
        #expect(u.description == text)
    }

    @Test(arguments: ["sip:2001:db8::10", "sip:", "sip:@example.com", "sip:a@b:99999", "sip:a@b;", "sip:a@b c",
                      "sip:a@b?x", "http//x", "sip:a@[2001:db8", "sip:us%4@example.com"])
    func malformed(_ text: String) {
        #expect(SIPURI(text) == nil)
    }

    /// RFC 3261 §19.1.4 and RFC 4475 §3.1.1.3: escapes of unreserved characters equal the
    /// characters; decoding happens once only, so `value%2541` is not `valueA`.
    @Test func escapeEquivalence() throws {
        let a = try #require(SIPURI("sip:%75se%72@example.com"))
        let b = try #require(SIPURI("sip:user@EXAMPLE.com"))
        #expect(a.isEquivalent(to: b))
        #expect(a != b)
        let c = try #require(SIPURI("sip:caller@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31"))
        let d = try #require(SIPURI("sip:caller@host5.example.net;lr;name=value%2541"))
        let e = try #require(SIPURI("sip:caller@host5.example.net;lr;name=valueA"))
        #expect(c.isEquivalent(to: d))
        #expect(!c.isEquivalent(to: e))
        // Reserved characters escaped differ from themselves.
        #expect(!(SIPURI("sip:a%3Bb@x")!.isEquivalent(to: SIPURI("sip:a;b@x")!)))
        #expect(SIPURI("sip:a%3bb@x")!.isEquivalent(to: SIPURI("sip:a%3Bb@x")!))
        // User part is case-sensitive, host is not.
        #expect(!(SIPURI("sip:Alice@x")!.isEquivalent(to: SIPURI("sip:alice@x")!)))
    }

    /// The §19.1.4 examples.
    @Test func rfc3261Examples() throws {
        let equal: [(String, String)] = [
            ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
            ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
            ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;newparam=5"),
            ("sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
             "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"),
            ("sip:alice@atlanta.com?subject=project%20x&priority=urgent",
             "sip:alice@atlanta.com?priority=urgent&subject=project%20x"),
        ]
        for (x, y) in equal { #expect(SIPURI(x)!.isEquivalent(to: SIPURI(y)!), "\(x) == \(y)") }
        let different: [(String, String)] = [
            ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
            ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
            ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
            ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
            ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
            ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
            ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"),
        ]
        for (x, y) in different { #expect(!SIPURI(x)!.isEquivalent(to: SIPURI(y)!), "\(x) != \(y)") }
    }

    @Test func semicolonInUserPart() throws {
        let u = try #require(SIPURI("sip:user;par=u%40example.net@example.com"))
        #expect(u.user == "user;par=u%40example.net")
        #expect(u.host == "example.com")
        #expect(u.parameters.isEmpty)
    }

    @Test func otherSchemes() throws {
        #expect(URI("tel:+1-201-555-0123;phone-context=example.com") == .tel(TelURI(number: "+1-201-555-0123",
                    parameters: [SIPParameter(name: "phone-context", value: "example.com")])))
        #expect(URI("tel:+1-201-555-0123")?.description == "tel:+1-201-555-0123")
        #expect(URI("urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6")?.scheme == "urn")
        #expect(URI("mailto:a@b")?.description == "mailto:a@b")
        #expect(URI("<sip:a@b>") == nil)
        #expect(URI("1abc:x") == nil)
        #expect(URI("SIP:a@b")?.sipURI?.user == "a")
    }

    @Test func addressOfRecord() throws {
        #expect(SIPURI("sip:%61lice@Example.COM:5070;transport=tcp")!.addressOfRecord == "sip:alice@example.com")
        #expect(SIPURI("sip:null-%00-null@example.com")!.addressOfRecord == "sip:null-%00-null@example.com")
        #expect(sipPercentDecoded("I%20have%20spaces") == "I have spaces")
        #expect(sipPercentDecoded("value%2541") == "value%41")
    }
}
