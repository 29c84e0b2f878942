/// One Via value (RFC 3261 §20.42, §25.1 `via-parm`; RFC 3581 rport; RFC 5118 IPv6).
public struct Via: Hashable, Sendable, CustomStringConvertible {
    public var protocolName: String
    public var protocolVersion: String
    /// `UDP`, `TCP`, `TLS`, `SCTP`, `WS` or any other token, as received.
    public var transport: String
    /// sent-by host: name, IPv4, or bracketed IPv6 reference.
    public var host: String
    public var port: Int?
    public var parameters: [SIPParameter]

    public init(protocolName: String = "SIP", protocolVersion: String = "2.0", transport: String, host: String,
                port: Int? = nil, parameters: [SIPParameter] = []) {
        self.protocolName = protocolName
        self.protocolVersion = protocolVersion
        self.transport = transport
        self.host = host
        self.port = port
        self.parameters = parameters
    }

    public func parameter(_ name: String) -> String?? { parameters.value(name) }

    public mutating func setParameter(_ name: String, _ value: String?, flag: Bool = false) {
        if let i = parameters.firstIndex(where: { asciiCaseInsensitiveEqual($0.name, name) }) {
            if value == nil && !flag { parameters.remove(at: i) } else { parameters[i].value = value }
        } else if value != nil || flag {
            parameters.append(SIPParameter(name: name, value: value))
        }
    }

    /// `branch` (§8.1.1.7); RFC 3261 branches start with `z9hG4bK`.
    public var branch: String? {
        get { parameter("branch") ?? nil }
        set { setParameter("branch", newValue) }
    }
    /// `received` (§18.2.1).
    public var received: String? {
        get { parameter("received") ?? nil }
        set { setParameter("received", newValue) }
    }
    /// `rport` (RFC 3581): nil absent, `.some(nil)` bare `rport`, `.some(port)` filled in.
    public var rport: Int?? {
        guard let v = parameter("rport") else { return .none }
        guard let v else { return .some(nil) }
        return .some(Int(v))
    }
    public var maddr: String? { parameter("maddr") ?? nil }
    public var ttl: Int? { (parameter("ttl") ?? nil).flatMap { Int($0) } }

    /// True when the branch carries the RFC 3261 magic cookie.
    public var hasRFC3261Branch: Bool { branch?.hasPrefix("z9hG4bK") ?? false }

    public var description: String {
        var s = protocolName + "/" + protocolVersion + "/" + transport + " " + host
        if let port { s += ":"; s += String(port) }
        parameters.serialized(into: &s)
        return s
    }

    public init?(_ text: String) {
        guard let v = try? Via.parseList(text), v.count == 1 else { return nil }
        self = v[0]
    }

    /// Parses a whole Via field value (one or more comma-separated via-parms).
    public static func parseList(_ text: String) throws(SIPParseError) -> [Via] {
        try withBytes(text) { (b) throws(SIPParseError) in try parseList(b, 0..<b.count) }
    }

    static func parseList(_ b: Bytes, _ range: Range<Int>) throws(SIPParseError) -> [Via] {
        var out: [Via] = []
        try forEachListElement(b, range) { (r) throws(SIPParseError) in out.append(try parse(b, r)) }
        return out
    }

    /// Checks a Via field value without building values; returns the number of via-parms.
    static func validateList(_ b: Bytes, _ range: Range<Int>) throws(SIPParseError) -> Int {
        var n = 0
        try forEachListElement(b, range) { (r) throws(SIPParseError) in
            _ = try scan(b, r, build: false)
            n += 1
        }
        return n
    }

    /// As `validateList`, building the first via-parm (the top Via) into `top`.
    static func validateList(_ b: Bytes, _ range: Range<Int>, top: inout Via?) throws(SIPParseError) -> Int {
        var n = 0
        var first: Via?
        try forEachListElement(b, range) { (r) throws(SIPParseError) in
            if n == 0 { first = try scan(b, r, build: true) } else { _ = try scan(b, r, build: false) }
            n += 1
        }
        swap(&top, &first)
        return n
    }

    static func parse(_ b: Bytes, _ range: Range<Int>) throws(SIPParseError) -> Via { try scan(b, range, build: true)! }

    static func scan(_ b: Bytes, _ range: Range<Int>, build: Bool) throws(SIPParseError) -> Via? {
        var c = Cursor(b, range)
        c.skipWS()
        guard let name = c.token(), c.eatSeparator(ASCII.slash), let version = c.token(), c.eatSeparator(ASCII.slash),
              let transport = c.token() else { throw .badRequest("Malformed Via sent-protocol") }
        let beforeWS = c.pos
        c.skipWS()
        guard c.pos > beforeWS else { throw .badRequest("Malformed Via: no space before sent-by") }
        let hs = c.pos
        if c.peek == ASCII.lbracket {
            c.pos += 1
            while c.pos < c.end, ASCII.isHex(b[c.pos]) || b[c.pos] == ASCII.colon || b[c.pos] == ASCII.dot { c.pos += 1 }
            guard c.eat(ASCII.rbracket), c.pos - hs > 2 else { throw .badRequest("Malformed Via IPv6 reference") }
        } else {
            while c.pos < c.end, ASCII.isHostChar(b[c.pos]) { c.pos += 1 }
            guard c.pos > hs else { throw .badRequest("Malformed Via: empty host") }
        }
        let host = build ? c.string(hs..<c.pos) : ""
        var port: Int?
        if c.eatSeparator(ASCII.colon) {
            guard let d = c.digits(), let p = parseDecimal(b, d, limit: 65535) else { throw .badRequest("Malformed Via port") }
            port = Int(p)
        }
        let parameters = try parseHeaderParameters(&c, build: build) { (n, v) throws(SIPParseError) in
            if equalsLowercased(b, n, "branch") || equalsLowercased(b, n, "received") || equalsLowercased(b, n, "maddr") {
                guard v != nil else { throw .badRequest("Via \(makeString(b, n)) without value") }
            } else if equalsLowercased(b, n, "ttl") {
                guard let v, parseDecimal(b, v, limit: 255) != nil else { throw .badRequest("Malformed Via ttl") }
            } else if equalsLowercased(b, n, "rport"), let v {
                guard parseDecimal(b, v, limit: 65535) != nil else { throw .badRequest("Malformed Via rport") }
            }
        }
        guard build else { return nil }
        return Via(protocolName: c.string(name), protocolVersion: c.string(version), transport: c.string(transport),
                   host: host, port: port, parameters: parameters)
    }
}

/// CSeq (RFC 3261 §20.16): a sequence number below 2³² and the method.
public struct CSeq: Hashable, Sendable, CustomStringConvertible {
    public var sequence: UInt32
    public var method: SIPMethod

    public init(sequence: UInt32, method: SIPMethod) {
        self.sequence = sequence
        self.method = method
    }

    public var description: String { "\(sequence) \(method.rawValue)" }

    public static func parse(_ text: String) throws(SIPParseError) -> CSeq {
        try withBytes(text) { (b) throws(SIPParseError) in try parse(b, 0..<b.count) }
    }

    public init?(_ text: String) {
        guard let v = try? CSeq.parse(text) else { return nil }
        self = v
    }

    static func parse(_ b: Bytes, _ range: Range<Int>) throws(SIPParseError) -> CSeq {
        var c = Cursor(b, range)
        c.skipWS()
        guard let d = c.digits() else { throw .badRequest("Malformed CSeq") }
        guard let n = parseDecimal(b, d, limit: UInt64(UInt32.max)) else { throw .badRequest("CSeq number exceeds 2^32-1") }
        let ws = c.pos
        c.skipWS()
        guard c.pos > ws, let m = c.token() else { throw .badRequest("Malformed CSeq method") }
        c.skipWS()
        guard c.atEnd else { throw .badRequest("Malformed CSeq") }
        return CSeq(sequence: UInt32(n), method: SIPMethod.fromBytes(b, m))
    }
}
