import Testing
@testable import Presence

/// parse → serialize → parse, the writer's namespaces and prefixes, escaping.
@Suite("PIDF round trips and writing")
struct PIDFRoundTripTests {
    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test(arguments: DocumentFixtures.validPIDF)
    func roundTrip(_ file: String) throws {
        let document = try PIDFDocument.parse(DocumentFixtures.bytes(file))
        let body = document.serialized()
        #expect(try PIDFDocument.parse(body) == document)
        // The writer's output is a fixed point.
        #expect(try PIDFDocument.parse(body).serialized() == body)
        #expect(Self.text(body).hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<presence xmlns=\"urn:ietf:params:xml:ns:pidf\""))
    }

    @Test func extensionsSurvive() throws {
        let document = try PIDFDocument.parse(DocumentFixtures.bytes("pidf/valid/microsoft-extension.xml"))
        let ep = "urn:schemas-microsoft-com:rtc:presence-extension"
        let again = try PIDFDocument.parse(document.serialized())
        #expect(again.otherAttributes == [XML.Attribute(namespace: ep, name: "epid", value: "f2c3a1b0")])
        let tuple = again.tuples[0].element
        #expect(tuple.firstElement("availability", in: ep)?.attribute("aggregate") == "3500")
        #expect(tuple.firstElement("activity", in: ep)?.text == "In a call <external>")  // was CDATA
        #expect(again.extensions.map(\.name) == ["display-name", "device-info"])
        #expect(again.extensions[0].text == "Dave Ó Briain")
        #expect(again.extensions[1].attribute("name", namespace: ep) == "Office PC")
        let body = Self.text(document.serialized())
        #expect(body.contains(#"xmlns:ns1="urn:schemas-microsoft-com:rtc:presence-extension""#))
        #expect(body.contains(#"xmlns:c="urn:ietf:params:xml:ns:pidf:cipid""#))
        #expect(body.contains(#"ns1:epid="f2c3a1b0""#))
        #expect(body.contains("<c:display-name>Dave Ó Briain</c:display-name>"))
        #expect(body.contains("In a call &lt;external&gt;"))

        let linphone = try PIDFDocument.parse(DocumentFixtures.bytes("pidf/valid/linphone.xml"))
        let status = try PIDFDocument.parse(linphone.serialized()).tuples[0].element.firstElement("status", in: PresenceNamespace.pidf)
        #expect(status?.firstElement("online", in: "http://www.linphone.org/xsds/pidfonline.xsd")?.text == "2026-11-29T21:58:03Z")
    }

    @Test func prefixesAreStableAndDeclaredOnceOnTheRoot() throws {
        // RFC 3863's example uses the prefix impp for PIDF: written back as the default namespace.
        let document = try PIDFDocument.parse(DocumentFixtures.bytes("pidf/valid/rfc3863-extensions.xml"))
        let body = Self.text(document.serialized())
        #expect(body.hasPrefix("""
            <?xml version="1.0" encoding="UTF-8"?>
            <presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:ns1="urn:ietf:params:xml:ns:pidf:im" \
            xmlns:ns2="http://id.example.com/presence/" entity="pres:someone@example.com"><tuple id="bs35r9">\
            <status><basic>open</basic><ns1:im>busy</ns1:im><ns2:location>home</ns2:location></status>
            """))
        #expect(body.contains(#"<note xml:lang="fr">Ne dérangez pas, s'il vous plaît</note>"#))
        #expect(body.components(separatedBy: "xmlns").count == 4)

        let rpid = try PIDFDocument.parse(DocumentFixtures.bytes("pidf/valid/rfc4480-example.xml"))
        let rpidBody = Self.text(rpid.serialized())
        #expect(rpidBody.hasPrefix("""
            <?xml version="1.0" encoding="UTF-8"?>
            <presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" \
            xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" xmlns:ns1="urn:ietf:params:xml:ns:location-type" entity=
            """))
        #expect(rpidBody.contains("<rpid:activities from=\"2005-05-30T12:00:00+05:00\" until=\"2005-05-30T17:00:00+05:00\"><rpid:note>Far away</rpid:note><rpid:away/></rpid:activities>"))
    }

    @Test func builtDocumentIsExact() {
        var tuple = PresenceTuple(id: "t1", basic: .open, contact: "sip:alice@192.0.2.1", notes: ["Here"], timestamp: "2026-11-29T22:00:00Z")
        tuple.basic = .closed
        tuple.notes = ["Gone"]
        let document = PIDFDocument(entity: "sip:alice@example.org", tuples: [tuple],
                                    persons: [PresencePerson(id: "p1", activities: ["busy", "in a meeting"], notes: ["Call later"])],
                                    notes: ["doc"])
        #expect(Self.text(document.serialized()) == """
            <?xml version="1.0" encoding="UTF-8"?>
            <presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" \
            xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:alice@example.org"><tuple id="t1"><status>\
            <basic>closed</basic></status><contact>sip:alice@192.0.2.1</contact><note>Gone</note>\
            <timestamp>2026-11-29T22:00:00Z</timestamp></tuple><note>doc</note><dm:person id="p1"><rpid:activities>\
            <rpid:busy/><rpid:other>in a meeting</rpid:other></rpid:activities><dm:note>Call later</dm:note></dm:person></presence>
            """)
        #expect(document.persons[0].activities == ["busy", "in a meeting"])
        var cleared = document.persons[0]
        cleared.activities = []
        #expect(cleared.element.firstElement("activities", in: PresenceNamespace.rpid) == nil)
        var noContact = tuple
        noContact.contact = nil
        #expect(noContact.contact == nil && noContact.notes == ["Gone"])
    }

    @Test func escaping() throws {
        let note = #"a < b & c > d "quoted" 'single' ]]> Ünïcødé 日本語 🎉"#
        let document = PIDFDocument(entity: #"sip:o'brien&"co"@example.org"#,
                                    tuples: [PresenceTuple(id: "t1", basic: .open, notes: [note, "tab\there\r\nnext"])],
                                    notes: ["<script>alert(1)</script>"])
        let body = Self.text(document.serialized())
        #expect(body.contains(#"entity="sip:o'brien&amp;&quot;co&quot;@example.org""#))
        #expect(body.contains(#"<note>a &lt; b &amp; c &gt; d "quoted" 'single' ]]&gt; Ünïcødé 日本語 🎉</note>"#))
        #expect(body.contains("<note>tab\there&#13;\nnext</note>"))
        #expect(body.contains("<note>&lt;script&gt;alert(1)&lt;/script&gt;</note>"))
        let again = try PIDFDocument.parse(document.serialized())
        #expect(again == document)
        #expect(again.tuples[0].notes == [note, "tab\there\r\nnext"])
        #expect(again.summary.note == note)
    }

    @Test func attributeWhitespaceAndControlCharacters() throws {
        var tuple = PresenceTuple(id: "t1", basic: .open)
        tuple.element.setAttribute("label", namespace: "urn:x", to: "line1\nline2\tend")
        tuple.notes = ["bell\u{7}", "non\u{FFFE}char"]  // XML 1.0 cannot carry U+0007 nor U+FFFE
        let document = PIDFDocument(entity: "sip:a@b", tuples: [tuple])
        let body = Self.text(document.serialized())
        #expect(body.contains(#"ns1:label="line1&#10;line2&#9;end""#))
        #expect(body.contains("<note>bell\u{FFFD}</note><note>non\u{FFFD}char</note>"))
        let again = try PIDFDocument.parse(document.serialized())
        #expect(again.tuples[0].element.attribute("label", namespace: "urn:x") == "line1\nline2\tend")
    }

    @Test func elementInNoNamespaceInsidePIDF() throws {
        var tuple = PresenceTuple(id: "t1", basic: .open)
        let inner = XML.Element(namespace: PresenceNamespace.pidf, name: "note", text: "inner")
        tuple.element.children.append(.element(XML.Element(namespace: nil, name: "legacy", children: [.element(inner)])))
        let document = PIDFDocument(entity: "sip:a@b", tuples: [tuple])
        let body = Self.text(document.serialized())
        #expect(body.contains(#"<legacy xmlns=""><ns1:note>inner</ns1:note></legacy>"#))
        #expect(try PIDFDocument.parse(document.serialized()) == document)
    }
}
