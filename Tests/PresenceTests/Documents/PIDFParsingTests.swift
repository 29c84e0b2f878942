import Testing
@testable import Presence

/// RFC 3863 / 4479 / 4480 bodies as real clients send them, and bodies to refuse.
@Suite("PIDF parsing")
struct PIDFParsingTests {
    /// What each valid fixture must parse to: entity, tuple ids, summary.
    struct Expected: Sendable {
        var entity: String, tupleIDs: [String], summary: PresenceSummary
    }

    static let expected: [String: Expected] = [
        "rfc3863-basic.xml": Expected(entity: "pres:someone@example.com", tupleIDs: ["sg89ae"],
                                      summary: PresenceSummary(basic: .open)),
        "rfc3863-extensions.xml": Expected(entity: "pres:someone@example.com", tupleIDs: ["bs35r9", "eg92n8"],
                                           summary: PresenceSummary(basic: .open, note: "Don't Disturb Please!")),
        "rfc4480-example.xml": Expected(entity: "pres:someone@example.com", tupleIDs: ["bs35r9", "ty4658", "eg92n8"],
                                        summary: PresenceSummary(basic: .open, activities: ["away"], note: "Scoring 120")),
        "linphone.xml": Expected(entity: "sip:alice@example.org", tupleIDs: ["fqkfpz"],
                                 summary: PresenceSummary(basic: .open, activities: ["on-the-phone"], note: "In a call, back soon")),
        "baresip-open.xml": Expected(entity: "sip:bob@example.org", tupleIDs: ["t4109"],
                                     summary: PresenceSummary(basic: .open, activities: ["busy"], note: "Busy")),
        "baresip-closed.xml": Expected(entity: "sip:bob@example.org", tupleIDs: ["t4109"],
                                       summary: PresenceSummary(basic: .closed, note: "Offline")),
        "pidgin.xml": Expected(entity: "sip:carol@example.org", tupleIDs: ["bs35r9f"],
                               summary: PresenceSummary(basic: .open, note: "Having lunch & coffee")),
        "microsoft-extension.xml": Expected(entity: "sip:dave@example.com", tupleIDs: ["lcs1"],
                                            summary: PresenceSummary(basic: .open)),
    ]

    @Test func everyValidFixtureHasExpectations() {
        #expect(DocumentFixtures.validPIDF.count == Self.expected.count)
    }

    @Test(arguments: DocumentFixtures.validPIDF)
    func parsesAsExpected(_ file: String) throws {
        let document = try PIDFDocument.parse(DocumentFixtures.bytes(file))
        let expected = try #require(Self.expected[String(file.split(separator: "/").last!)])
        #expect(document.entity == expected.entity)
        #expect(document.tuples.map(\.id) == expected.tupleIDs)
        #expect(document.summary == expected.summary)
    }

    @Test func rfc3863TupleFields() throws {
        let document = try PIDFDocument.parse(DocumentFixtures.bytes("pidf/valid/rfc3863-extensions.xml"))
        let tuple = document.tuples[0]
        #expect(tuple.basic == .open)
        #expect(tuple.contact == "im:someone@mobilecarrier.net")
        #expect(tuple.contactPriority == 0.8)
        #expect(tuple.notes == ["Don't Disturb Please!", "Ne dérangez pas, s'il vous plaît"])
        #expect(tuple.timestamp == "2001-10-27T16:49:29Z")
        #expect(document.notes == ["I'll be in Tokyo next week"])
        // The status extensions stay in the tuple's element.
        let status = try #require(tuple.element.firstElement("status", in: PresenceNamespace.pidf))
        #expect(status.firstElement("im", in: "urn:ietf:params:xml:ns:pidf:im")?.text == "busy")
        #expect(status.firstElement("location", in: "http://id.example.com/presence/")?.text == "home")
        #expect(tuple.element.elements("note", in: PresenceNamespace.pidf)[1].attribute("lang", namespace: XML.xmlNamespace) == "fr")
    }

    @Test func rfc4480PersonAndDevice() throws {
        let document = try PIDFDocument.parse(DocumentFixtures.bytes("pidf/valid/rfc4480-example.xml"))
        #expect(document.persons.count == 1)
        let person = document.persons[0]
        #expect(person.id == "p1")
        #expect(person.activities == ["away"])  // the rpid:note inside activities is not an activity
        #expect(person.notes == ["Scoring 120"])
        #expect(document.devices.map { $0.attribute("id") } == ["pc147"])
        #expect(document.notes == ["I'll be in Tokyo next week"])
    }

    @Test func linphoneTuple() throws {
        let document = try PIDFDocument.parse(DocumentFixtures.bytes("pidf/valid/linphone.xml"))
        #expect(document.tuples[0].contact == "sip:alice@192.0.2.10:5060;transport=udp")
        #expect(document.tuples[0].timestamp == "2026-11-29T21:58:03Z")
        #expect(document.persons[0].id == "dpmihe")
    }

    @Test(arguments: DocumentFixtures.invalidPIDF)
    func rejected(_ row: DocumentFixtures.Rejection) {
        let error = #expect(throws: PresenceDocumentError.self) { try PIDFDocument.parse(DocumentFixtures.bytes(row.file)) }
        #expect(error?.code.rawValue == row.code, "\(error?.reason ?? "")")
        #expect(error?.status == 400)
        #expect(error?.reason.isEmpty == false)
    }

    @Test func oversizedBodyIs413() throws {
        let open = try PIDFDocument.parse(DocumentFixtures.bytes("pidf/valid/rfc3863-basic.xml")).serialized()
        var body = open
        body.insert(contentsOf: Array(("<!--" + String(repeating: "x", count: 65_536) + "-->").utf8),
                    at: body.lastIndex(of: UInt8(ascii: "<"))!)
        let error = #expect(throws: PresenceDocumentError.self) { try PIDFDocument.parse(body) }
        #expect(error?.code == .bodyTooLarge)
        #expect(error?.status == 413)
        // Exactly at the limit is accepted (a comment is padding).
        var atLimit = open
        let padding = 65_536 - open.count - 7
        atLimit.insert(contentsOf: Array(("<!--" + String(repeating: "x", count: padding) + "-->").utf8),
                       at: atLimit.lastIndex(of: UInt8(ascii: "<"))!)
        #expect(atLimit.count == 65_536)
        #expect(try PIDFDocument.parse(atLimit).entity == "pres:someone@example.com")
    }

    static func nested(depth: Int) -> [UInt8] {
        let open = String(repeating: "<ns:x>", count: depth - 1), close = String(repeating: "</ns:x>", count: depth - 1)
        return Array(("<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" xmlns:ns=\"urn:x\" entity=\"sip:a@b\">"
                      + open + close + "</presence>").utf8)
    }

    @Test func depthLimit() throws {
        #expect(try PIDFDocument.parse(Self.nested(depth: 32)).extensions.count == 1)
        let error = #expect(throws: PresenceDocumentError.self) { try PIDFDocument.parse(Self.nested(depth: 33)) }
        #expect(error?.code == .tooDeep)
    }

    @Test func elementLimit() throws {
        func body(_ tuples: Int) -> [UInt8] {
            Array(("<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"sip:a@b\">"
                   + (0..<tuples).map { "<tuple id=\"t\($0)\"><status/></tuple>" }.joined() + "</presence>").utf8)
        }
        #expect(try PIDFDocument.parse(body(999)).tuples.count == 999)  // 1 + 999 × 2 = 1999 elements
        let error = #expect(throws: PresenceDocumentError.self) { try PIDFDocument.parse(body(1000)) }
        #expect(error?.code == .tooManyElements)
    }

    @Test func utf16IsRefused() {
        let utf16: [UInt8] = [0xFF, 0xFE] + Array("<presence/>".utf8).flatMap { [$0, 0] }
        let error = #expect(throws: PresenceDocumentError.self) { try PIDFDocument.parse(utf16) }
        #expect(error?.code == .unsupportedEncoding)
    }

    @Test func tupleWithoutBasicIsAccepted() throws {
        // RFC 3863 §4.1.4: basic is optional inside status.
        let body = #"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@b"><tuple id="t"><status/></tuple></presence>"#
        let document = try PIDFDocument.parse(Array(body.utf8))
        #expect(document.tuples[0].basic == nil)
        #expect(document.summary.basic == .closed)
    }
}
