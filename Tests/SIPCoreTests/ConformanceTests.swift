import Testing
@testable import SIPCore

/// Every row of EXPECTED.tsv, asserted (RFC 4475, RFC 5118).
@Suite("Conformance: RFC 4475 / RFC 5118 torture messages")
struct ConformanceTests {
    @Test func everyRowIsCovered() {
        #expect(Fixtures.rows.count == 62)
        let covered = Set(["accept", "reject", "reject-or-lenient", "app"])
        #expect(Fixtures.rows.allSatisfy { covered.contains($0.parser) })
        #expect(Fixtures.rows.allSatisfy { !$0.bytes.isEmpty })
    }

    /// `accept`: parses, and parse(serialize(m)) == m.
    @Test(arguments: Fixtures.rows("accept"))
    func accepted(_ row: FixtureRow) throws {
        let m = try SIPParser.parseDatagram(row.bytes)
        #expect(try SIPParser.parseDatagram(m.serialized()) == m)
        if row.name == "badbranch" {
            // §3.2.1: parses; the branch is the bare magic cookie, which the transaction
            // layer must not treat as a unique RFC 3261 branch.
            #expect(try m.topVia?.branch == "z9hG4bK")
        }
    }

    /// `reject`: fails with the listed status; `drop` for responses. For `501|400`
    /// (mismatch02) the parser answers the preferred 501.
    @Test(arguments: Fixtures.rows("reject"))
    func rejected(_ row: FixtureRow) {
        let error = #expect(throws: SIPParseError.self) { try SIPParser.parseDatagram(row.bytes) }
        guard let error else { return }
        if row.response == "drop" {
            #expect(error.isDrop, "\(error.reason)")
            #expect(error.code == .malformedResponse)
        } else {
            let preferred = Int(row.response.split(separator: "|").first!)!
            #expect(error.status == preferred, "\(error.reason)")
            if preferred == 505 { #expect(error.code == .versionNotSupported) }
        }
        #expect(!error.reason.isEmpty)
    }

    /// `reject-or-lenient`: the behaviour chosen per row. Strict wherever a proxy could
    /// otherwise forward something malformed; lenient only for Date, which no layer reads.
    static let lenientChoice: [String: Int?] = [
        "quotbal": 400,   // unbalanced quote: inferring the close is guesswork
        "ltgtruri": 400,  // <> around the Request-URI
        "lwsruri": 400,   // LWS inside the Request-URI
        "lwsstart": 400,  // two SPs after the method
        "trws": 400,      // trailing SP after SIP/2.0
        "escruri": 400,   // headers in a Request-URI (§19.1.1): never turned into real headers
        "baddate": nil,   // lenient: Date is kept raw and never interpreted
        "regbadct": 400,  // Contact URI with '?' outside <>
        "badaspec": 400,  // spaces inside <> around the addr-spec
    ]

    @Test(arguments: Fixtures.rows("reject-or-lenient"))
    func rejectOrLenient(_ row: FixtureRow) throws {
        let choice = try #require(Self.lenientChoice[row.name], "no documented choice for \(row.name)")
        if let status = choice {
            let error = #expect(throws: SIPParseError.self) { try SIPParser.parseDatagram(row.bytes) }
            #expect(error?.status == status, "\(error?.reason ?? "")")
        } else {
            let m = try SIPParser.parseDatagram(row.bytes)
            #expect(m.headers.first("Date") != nil)
            #expect(try SIPParser.parseDatagram(m.serialized()) == m)
        }
    }

    /// `app`: the grammar accepts, and the typed values expose what the application needs.
    /// mcl01 is the exception: two different Content-Length values make framing impossible,
    /// so the parser itself answers 400 (and stream framing closes the connection).
    @Test(arguments: Fixtures.rows("app"))
    func application(_ row: FixtureRow) throws {
        if row.name == "mcl01" {
            #expect(throws: SIPParseError.badRequest("Conflicting Content-Length values")) { try SIPParser.parseDatagram(row.bytes) }
            let frame = row.bytes.withUnsafeBytes { SIPParser.frameStream($0) }
            guard case .error(let e, let consumed) = frame else { Issue.record("expected a framing error"); return }
            #expect(e.status == 400)
            #expect(consumed == nil)
            return
        }
        let m = try SIPParser.parseDatagram(row.bytes)
        #expect(try SIPParser.parseDatagram(m.serialized()) == m)
        let request = m.request
        switch row.name {
        case "insuf":
            #expect(m.callID == nil && m.from == nil && m.to == nil)
            #expect(m.maxForwards == nil)
        case "unkscm":
            #expect(request?.uri.scheme == "nobodyknowsthisscheme")
            #expect(request?.uri.sipURI == nil)
        case "novelsc":
            #expect(request?.uri == .other(scheme: "soap.beep", text: "soap.beep://192.0.2.103:3002"))
        case "unksm2":
            #expect(m.to?.uri.scheme == "isbn")
            #expect(m.from?.uri.scheme == "http")
            #expect(m.contacts.first?.nameAddr?.uri.scheme == "name")
        case "bext01":
            #expect(m.require == ["nothingSupportsThis", "nothingSupportsThisEither"])
            #expect(m.proxyRequire == ["noProxiesSupportThis", "norDoAnyProxiesSupportThis"])
        case "invut":
            #expect(m.contentType?.mediaType == "application/unknownformat")
            #expect(m.body.count == 40)
        case "regaut01":
            let auth = try #require(m.authorizations.first)
            #expect(auth.scheme == "NoOneKnowsThisScheme")
            #expect(!auth.isDigest)
            #expect(auth.auth.rawParameters == "opaque-data=here")
        case "multi01":
            #expect(m.callIDs.count == 2)
            #expect(m.headers.fieldValues("CSeq").count == 2)
            #expect(m.headers.fieldValues("To").count == 2)
            #expect(m.headers.fieldValues("From").count == 2)
            #expect(m.headers.fieldValues("Max-Forwards").count == 2)
        case "bcast":
            let vias = try m.vias
            #expect(vias.count == 2)
            #expect(vias[1].host == "255.255.255.255")
            #expect(m.response?.statusCode == 200)
        case "zeromf":
            #expect(m.maxForwards == 0)
        case "cparam01":
            let na = try #require(m.contacts.first?.nameAddr)
            #expect(na.parameter("unknownparam") == .some(nil))
            #expect(na.uri.sipURI?.parameters.isEmpty == true)
        case "cparam02":
            let na = try #require(m.contacts.first?.nameAddr)
            #expect(na.parameters.isEmpty)
            #expect(na.uri.sipURI?.parameter("unknownparam") == .some(nil))
        case "regescrt":
            let uri = try #require(m.contacts.first?.nameAddr?.uri.sipURI)
            #expect(uri.headers == [SIPParameter(name: "Route", value: "%3Csip:sip.example.com%3E")])
            #expect(uri.description == "sip:user@example.com?Route=%3Csip:sip.example.com%3E")
        case "sdp01":
            #expect(m.headers["Accept"] == ["text/nobodyKnowsThis"])
            #expect(m.contentType?.mediaType == "application/sdp")
        default:
            Issue.record("no application check for \(row.name)")
        }
    }
}
