import Testing
@testable import Presence

/// RFC 3903 composition of several devices' publications, the documents the agent writes
/// itself, and the LCS 2003 states.
@Suite("PIDF composition, summaries and LCS states")
struct CompositionTests {
    static let entity = "sip:alice@example.org"

    /// A laptop (older: open, away) and a phone (newer: open, on the phone), same tuple id.
    static let laptop = PIDFDocument(entity: "sip:alice@laptop.example.org",
                                     tuples: [PresenceTuple(id: "t1", basic: .open, contact: "sip:alice@192.0.2.1")],
                                     persons: [PresencePerson(id: "p1", activities: ["away"], notes: ["At lunch"])],
                                     devices: [XML.Element(namespace: PresenceNamespace.dataModel, name: "device",
                                                           attributes: [XML.Attribute(name: "id", value: "d1")])],
                                     notes: ["laptop note"])
    static let phone = PIDFDocument(entity: entity,
                                    tuples: [PresenceTuple(id: "t1", basic: .open, contact: "sip:alice@198.51.100.2"),
                                             PresenceTuple(id: "t2", basic: .closed)],
                                    persons: [PresencePerson(id: "p1", activities: ["on-the-phone"], notes: ["Calling"])],
                                    devices: [XML.Element(namespace: PresenceNamespace.dataModel, name: "device",
                                                          attributes: [XML.Attribute(name: "id", value: "d1")])])

    @Test func twoDevicesNewestPersonWins() throws {
        let composed = PIDFDocument.compose(entity: Self.entity, publications: [Self.laptop, Self.phone])
        #expect(composed.entity == Self.entity)
        // Newest publication first, open tuples first; the older duplicate id renamed.
        #expect(composed.tuples.map(\.id) == ["t1", "t1-2", "t2"])
        #expect(composed.tuples.map(\.contact) == ["sip:alice@198.51.100.2", "sip:alice@192.0.2.1", nil])
        #expect(composed.persons.map(\.activities) == [["on-the-phone"]])
        #expect(composed.devices.map { $0.attribute("id") } == ["d1", "d1-2"])
        #expect(composed.notes == ["laptop note"])  // the newest publication with notes
        #expect(composed.summary == PresenceSummary(basic: .open, activities: ["on-the-phone"], note: "Calling"))
        #expect(Set(composed.tuples.map(\.id)).count == composed.tuples.count)
        // It is a valid document.
        #expect(try PIDFDocument.parse(composed.serialized()) == composed)

        // The other way round, the laptop's person wins.
        let reversed = PIDFDocument.compose(entity: Self.entity, publications: [Self.phone, Self.laptop])
        #expect(reversed.tuples.map(\.id) == ["t1", "t1-2", "t2"])
        #expect(reversed.tuples.first?.contact == "sip:alice@192.0.2.1")
        #expect(reversed.summary.activities == ["away"])
    }

    @Test func aPublicationWithoutPersonDoesNotEraseIt() {
        let tupleOnly = PIDFDocument(entity: Self.entity, tuples: [PresenceTuple(id: "x", basic: .closed)])
        let composed = PIDFDocument.compose(entity: Self.entity, publications: [Self.phone, tupleOnly])
        #expect(composed.summary.activities == ["on-the-phone"])
        #expect(composed.tuples.map(\.id) == ["t1", "x", "t2"])
    }

    @Test func fixturesCompose() throws {
        let publications = try ["baresip-open.xml", "linphone.xml", "pidgin.xml"].map {
            try PIDFDocument.parse(DocumentFixtures.bytes("pidf/valid/" + $0))
        }
        let composed = PIDFDocument.compose(entity: Self.entity, publications: publications)
        #expect(composed.tuples.map(\.id) == ["bs35r9f", "fqkfpz", "t4109"])
        #expect(composed.summary.activities == ["on-the-phone"])  // pidgin publishes no person
        #expect(PIDFDocument.compose(entity: Self.entity, publications: []) == PIDFDocument(entity: Self.entity))
    }

    @Test func closedAndOpen() throws {
        let closed = PIDFDocument.closed(entity: Self.entity)
        #expect(String(decoding: closed.serialized(), as: UTF8.self) == """
            <?xml version="1.0" encoding="UTF-8"?>
            <presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:alice@example.org">\
            <tuple id="offline"><status><basic>closed</basic></status></tuple></presence>
            """)
        #expect(closed.summary == PresenceSummary(basic: .closed))
        let open = PIDFDocument.open(entity: Self.entity, tupleID: "reg-1", contact: "sip:alice@192.0.2.1;transport=tcp")
        #expect(open.tuples.map(\.basic) == [.open])
        #expect(try PIDFDocument.parse(open.serialized()).tuples[0].contact == "sip:alice@192.0.2.1;transport=tcp")
        #expect(PIDFDocument.open(entity: Self.entity, tupleID: "r", contact: nil).tuples[0].element.elements.count == 1)
    }

    @Test func summaryNoteOrder() {
        var document = PIDFDocument(entity: Self.entity, tuples: [PresenceTuple(id: "t", basic: .closed)], notes: ["document"])
        #expect(document.summary.note == "document")
        document.tuples[0].notes = ["tuple"]
        #expect(document.summary.note == "tuple")
        document.persons = [PresencePerson(id: "p", notes: ["person"])]
        #expect(document.summary.note == "person")
        #expect(document.summary.description == #"closed "person""#)
        #expect(PresenceSummary(basic: .open, activities: ["busy", "meal"]).description == "open (busy, meal)")
    }

    @Test(arguments: LCSState.allCases)
    func lcsStateRoundTrips(_ state: LCSState) throws {
        let document = state.document(entity: Self.entity, tupleID: "lcs", note: "hello")
        let parsed = try PIDFDocument.parse(document.serialized())
        #expect(parsed == document)
        #expect(LCSState(summary: parsed.summary) == state)
        #expect(parsed.summary.activities == state.activities)
        if state == .appearOffline {
            #expect(document == PIDFDocument.closed(entity: Self.entity, tupleID: "lcs"))
        } else {
            #expect(parsed.summary.note == "hello")
        }
    }

    @Test func lcsWireForms() {
        func body(_ state: LCSState) -> String {
            String(decoding: state.document(entity: Self.entity, tupleID: "t").serialized(), as: UTF8.self)
        }
        // baresip matches these literally.
        #expect(body(.busy).contains("<rpid:activities><rpid:busy/></rpid:activities>"))
        #expect(body(.away).contains("<rpid:activities><rpid:away/></rpid:activities>"))
        #expect(body(.beRightBack).contains("<rpid:activities><rpid:away/><rpid:other>be-right-back</rpid:other></rpid:activities>"))
        #expect(body(.onThePhone).contains("<rpid:on-the-phone/>"))
        #expect(body(.outToLunch).contains("<rpid:meal/>"))
        #expect(!body(.online).contains("rpid"))
        #expect(body(.appearOffline).contains("<basic>closed</basic>"))
    }

    @Test(arguments: [
        (["meeting"], LCSState.busy), (["dinner"], .outToLunch), (["vacation"], .away), (["brb"], .beRightBack),
        (["unknown"], .online), (["busy", "on-the-phone"], .onThePhone), (["away", "be-right-back"], .beRightBack),
        (["meal", "away"], .outToLunch),
    ] as [([String], LCSState)])
    func lcsStateFromOtherClients(_ activities: [String], _ state: LCSState) {
        #expect(LCSState(summary: PresenceSummary(basic: .open, activities: activities)) == state)
    }

    @Test func lcsStateUnmapped() {
        #expect(LCSState(summary: PresenceSummary(basic: .open, activities: ["working"])) == nil)
        #expect(LCSState(summary: PresenceSummary(basic: .closed, activities: ["busy"])) == .appearOffline)
    }
}
