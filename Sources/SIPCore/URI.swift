/// A `tel` URI (RFC 3966): the number as written and its parameters.
public struct TelURI: Hashable, Sendable, CustomStringConvertible {
    /// `+1-201-555-0123` (global) or a local number; visual separators kept.
    public var number: String
    public var parameters: [SIPParameter]

    public init(number: String, parameters: [SIPParameter] = []) {
        self.number = number
        self.parameters = parameters
    }

    public init?(_ text: String) {
        guard let t = try? withBytes(text, { (b) throws(SIPParseError) in try TelURI.parse(b, 0..<b.count) }) else { return nil }
        self = t
    }

    public var isGlobal: Bool { number.hasPrefix("+") }

    public var description: String {
        var s = "tel:" + number
        parameters.serialized(into: &s)
        return s
    }

    static func parse(_ b: Bytes, _ range: Range<Int>) throws(SIPParseError) -> TelURI { try scan(b, range, build: true)! }
    /// Checks the grammar only, building nothing.
    static func validate(_ b: Bytes, _ range: Range<Int>) throws(SIPParseError) { _ = try scan(b, range, build: false) }

    /// The grammar; builds the value only when `build` (else returns nil after checking).
    static func scan(_ b: Bytes, _ range: Range<Int>, build: Bool) throws(SIPParseError) -> TelURI? {
        var i = range.lowerBound + 4
        let end = range.upperBound
        let ns = i
        while i < end, isNumberChar(b[i]) { i += 1 }
        guard i > ns else { throw .badRequest("Malformed tel URI: number") }
        let number = build ? makeString(b, ns..<i) : ""
        var parameters: [SIPParameter] = []
        while i < end, b[i] == ASCII.semicolon {
            i += 1
            let ps = i
            while i < end, SIPURI.isParamChar(b[i]) { i += 1 }
            guard i > ps else { throw .badRequest("Malformed tel URI: parameter") }
            let nr = ps..<i
            var vr: Range<Int>?
            if i < end, b[i] == ASCII.equals {
                i += 1
                let vs = i
                while i < end, SIPURI.isParamChar(b[i]) || b[i] == ASCII.question || b[i] == ASCII.at { i += 1 }
                vr = vs..<i
            }
            if build { parameters.append(SIPParameter(name: makeString(b, nr), value: vr.map { makeString(b, $0) })) }
        }
        guard i == end else { throw .badRequest("Malformed tel URI") }
        guard build else { return nil }
        return TelURI(number: number, parameters: parameters)
    }

    private static func isNumberChar(_ c: UInt8) -> Bool {
        ASCII.isHex(c) || c == UInt8(ascii: "+") || c == UInt8(ascii: "-") || c == ASCII.dot || c == UInt8(ascii: "(")
            || c == UInt8(ascii: ")") || c == ASCII.star || c == UInt8(ascii: "#") || ASCII.lower(c) == UInt8(ascii: "p")
            || ASCII.lower(c) == UInt8(ascii: "w")
    }
}

/// Any URI that can appear in a Request-URI or a name-addr (RFC 3261 §19, §25.1 `absoluteURI`).
public enum URI: Hashable, Sendable, CustomStringConvertible {
    /// `sip:` and `sips:` (see `SIPURI.secure`).
    case sip(SIPURI)
    case tel(TelURI)
    /// Any other scheme, kept opaque.
    case other(scheme: String, text: String)

    public init?(_ text: String) {
        guard let u = try? withBytes(text, { (b) throws(SIPParseError) in try URI.parse(b, 0..<b.count) }) else { return nil }
        self = u
    }

    public var scheme: String {
        switch self {
        case .sip(let u): u.secure ? "sips" : "sip"
        case .tel: "tel"
        case .other(let scheme, _): scheme
        }
    }

    public var sipURI: SIPURI? {
        if case .sip(let u) = self { return u }
        return nil
    }

    public var description: String {
        switch self {
        case .sip(let u): u.description
        case .tel(let t): t.description
        case .other(_, let text): text
        }
    }

    /// RFC 3261 §19.1.4 for SIP URIs; scheme-insensitive text comparison otherwise.
    public func isEquivalent(to other: URI) -> Bool {
        switch (self, other) {
        case let (.sip(a), .sip(b)): return a.isEquivalent(to: b)
        case let (.tel(a), .tel(b)): return a.number.filter { !"-.()".contains($0) } == b.number.filter { !"-.()".contains($0) }
        default: return self == other
        }
    }

    static func parse(_ b: Bytes, _ range: Range<Int>) throws(SIPParseError) -> URI { try scan(b, range, build: true)! }
    /// Checks the grammar only, building nothing.
    static func validate(_ b: Bytes, _ range: Range<Int>) throws(SIPParseError) { _ = try scan(b, range, build: false) }

    /// The grammar; builds the value only when `build` (else returns nil after checking).
    static func scan(_ b: Bytes, _ range: Range<Int>, build: Bool) throws(SIPParseError) -> URI? {
        var i = range.lowerBound
        let end = range.upperBound
        // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
        guard i < end, ASCII.isAlphanum(b[i]), !ASCII.isDigit(b[i]) else { throw .badRequest("Malformed URI: scheme") }
        while i < end, ASCII.isAlphanum(b[i]) || b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") || b[i] == ASCII.dot { i += 1 }
        guard i < end, b[i] == ASCII.colon else { throw .badRequest("Malformed URI: scheme") }
        let schemeRange = range.lowerBound..<i
        // Bound, then wrapped: the value moves into the case (`Optional.map` would copy it,
        // a retain and a release per component).
        if equalsLowercased(b, schemeRange, "sip") || equalsLowercased(b, schemeRange, "sips") {
            guard let sip = try SIPURI.scan(b, range, build: build) else { return nil }
            return .sip(sip)
        }
        if equalsLowercased(b, schemeRange, "tel") {
            guard let tel = try TelURI.scan(b, range, build: build) else { return nil }
            return .tel(tel)
        }
        // absoluteURI: no whitespace, controls, or the delimiters of name-addr.
        i += 1
        guard i < end else { throw .badRequest("Malformed URI: empty") }
        while i < end {
            let c = b[i]
            guard c > 0x20, c < 0x7F, c != ASCII.lt, c != ASCII.gt, c != ASCII.quote else { throw .badRequest("Malformed URI") }
            i += 1
        }
        guard build else { return nil }
        return .other(scheme: makeString(b, schemeRange).lowercased(), text: makeString(b, range))
    }
}
