/// Typed access to the hot headers of a message, parsed on demand from the raw header list.
/// The parser has already validated Via, From, To, CSeq and Contact of every parsed message,
/// so the throwing accessors throw only for messages built by hand with malformed values.
public protocol SIPHeaderAccess {
    var headers: SIPHeaders { get }
    var body: [UInt8] { get }
}

extension SIPRequest: SIPHeaderAccess {}
extension SIPResponse: SIPHeaderAccess {}
extension SIPMessage: SIPHeaderAccess {}

extension SIPHeaderAccess {
    /// All Via values, top first (RFC 3261 §20.42).
    public var vias: [Via] {
        get throws(SIPParseError) {
            var out: [Via] = []
            for f in headers.fields where f.name == "Via" { out += try Via.parseList(f.value) }
            return out
        }
    }

    /// The top Via (the one this element compares and removes).
    public var topVia: Via? {
        get throws(SIPParseError) {
            guard let v = headers.first("Via") else { return nil }
            return try Via.parseList(v).first
        }
    }

    /// Call-ID (§20.8); the first when a message carries several.
    public var callID: String? { headers.first("Call-ID") }

    /// CSeq (§20.16).
    public var cseq: CSeq? {
        get throws(SIPParseError) {
            guard let v = headers.first("CSeq") else { return nil }
            return try CSeq.parse(v)
        }
    }

    /// From (§20.20); nil when absent or malformed.
    public var from: NameAddr? { headers.first("From").flatMap { try? NameAddr.parse($0) } }
    /// To (§20.39); nil when absent or malformed.
    public var to: NameAddr? { headers.first("To").flatMap { try? NameAddr.parse($0) } }

    /// All Contact values in order (§20.10); `*` as `ContactValue.wildcard`; malformed fields skipped.
    public var contacts: [ContactValue] {
        var out: [ContactValue] = []
        for f in headers.fields where f.name == "Contact" {
            if let l = try? ContactValue.parseList(f.value) { out += l }
        }
        return out
    }

    /// Max-Forwards (§20.22); nil when absent or not a number.
    public var maxForwards: Int? { headers.first("Max-Forwards").flatMap { parseDecimal($0, limit: UInt64(Int32.max)) }.map { Int($0) } }

    /// Expires (§20.19) in seconds; values past 2³²−1 are clamped to it.
    public var expires: Int? { headers.first("Expires").flatMap(deltaSeconds) }
    /// Min-Expires (§20.23).
    public var minExpires: Int? { headers.first("Min-Expires").flatMap(deltaSeconds) }

    /// Route values, top first (§20.34).
    public var routes: [NameAddr] { nameAddrList("Route") }
    /// Record-Route values, top first (§20.30).
    public var recordRoutes: [NameAddr] { nameAddrList("Record-Route") }
    /// Path values (RFC 3327).
    public var paths: [NameAddr] { nameAddrList("Path") }

    /// The body's length: what the serializer writes as Content-Length (§20.14).
    public var contentLength: Int { body.count }

    func nameAddrList(_ name: String) -> [NameAddr] {
        headers[name].compactMap { try? NameAddr.parse($0) }
    }
}

func deltaSeconds(_ text: String) -> Int? {
    let t = text.trimmingWS()
    guard !t.isEmpty, t.utf8.allSatisfy(ASCII.isDigit) else { return nil }
    return Int(parseDecimal(t, limit: UInt64.max / 10) .map { min($0, UInt64(UInt32.max)) } ?? UInt64(UInt32.max))
}

extension String {
    func trimmingWS() -> String {
        let u = utf8
        guard let s = u.firstIndex(where: { !ASCII.isWS($0) }) else { return "" }
        let e = u.lastIndex(where: { !ASCII.isWS($0) })!
        return String(self[s...e])
    }
}
