/// `name-addr / addr-spec` with header parameters (RFC 3261 §20.10, §20.20, §20.39, §25.1):
/// the value of From, To, Contact, Route, Record-Route, Path, Reply-To, Refer-To.
///
/// When the URI is not in angle brackets, parameters after it belong to the header, not the
/// URI (§20.10); such a URI may not contain `,`, `?` or `;`.
public struct NameAddr: Hashable, Sendable, CustomStringConvertible {
    /// The display name with quotes and quoted-pairs removed; nil when absent.
    public var displayName: String?
    public var uri: URI
    /// Header parameters (`tag`, `expires`, `q`, ...), values as received.
    public var parameters: [SIPParameter]

    public init(displayName: String? = nil, uri: URI, parameters: [SIPParameter] = []) {
        self.displayName = displayName
        self.uri = uri
        self.parameters = parameters
    }

    /// `tag` (RFC 3261 §19.3).
    public var tag: String? {
        get { parameters.value("tag") ?? nil }
        set { setParameter("tag", newValue) }
    }

    public func parameter(_ name: String) -> String?? { parameters.value(name) }

    /// `text`, a name-addr as written without a tag, with `;tag=` `tag` appended: what
    /// setting ``tag`` on it and writing it out gives, without parsing it (§19.3).
    public static func appendingTag(_ tag: String, to text: String) -> String {
        var s = ""
        s.reserveCapacity(text.utf8.count + 5 + tag.utf8.count)
        s += text
        s += ";tag="
        s += tag
        return s
    }

    public mutating func setParameter(_ name: String, _ value: String?) {
        parameters.removeAll { asciiCaseInsensitiveEqual($0.name, name) }
        if let value { parameters.append(SIPParameter(name: name, value: value)) }
    }

    /// Always the name-addr form (`"Name" <uri>;params`), which is unambiguous.
    public var description: String {
        var s = ""
        if case .sip(let sip) = uri {
            s.reserveCapacity(sip.estimatedLength + 2 + (displayName.map { $0.utf8.count + 3 } ?? 0)
                              + parameters.serializedLength)
        }
        if let displayName { s += quote(displayName); s += " " }
        s += "<"
        if case .sip(let sip) = uri { sip.append(to: &s) } else { s += uri.description }
        s += ">"
        parameters.serialized(into: &s)
        return s
    }

    /// Parses one From/To/Route-style value.
    public static func parse(_ text: String) throws(SIPParseError) -> NameAddr {
        try withBytes(text) { (b) throws(SIPParseError) in try parse(b, 0..<b.count) }
    }

    public init?(_ text: String) {
        guard let v = try? NameAddr.parse(text) else { return nil }
        self = v
    }

    static func parse(_ b: Bytes, _ range: Range<Int>) throws(SIPParseError) -> NameAddr { try scan(b, range, build: true)! }
    /// Checks the grammar only, building nothing.
    static func validate(_ b: Bytes, _ range: Range<Int>) throws(SIPParseError) { _ = try scan(b, range, build: false) }

    /// The grammar; builds the value only when `build` (else returns nil after checking).
    static func scan(_ b: Bytes, _ range: Range<Int>, build: Bool) throws(SIPParseError) -> NameAddr? {
        var c = Cursor(b, range)
        c.skipWS()
        var displayName: String?
        var uriRange: Range<Int>
        var angle = false
        if c.peek == ASCII.quote {
            guard let q = c.quotedString() else { throw .badRequest("Unbalanced quotes in display name") }
            if build { displayName = unquote(c.string(q)) }
            c.skipWS()
            guard c.peek == ASCII.lt else { throw .badRequest("Display name without <URI>") }
            angle = true
        } else {
            // `*(token LWS) <`: look for '<' preceded only by tokens and whitespace.
            var k = c.pos
            while k < c.end, ASCII.isToken(b[k]) || ASCII.isWS(b[k]) || b[k] >= 0x80 { k += 1 }
            if k < c.end, b[k] == ASCII.lt {
                var e = k
                while e > c.pos, ASCII.isWS(b[e - 1]) { e -= 1 }
                if e > c.pos, build { displayName = c.string(c.pos..<e) }
                c.pos = k
                angle = true
            }
        }
        if angle {
            c.pos += 1
            let s = c.pos
            c.pos = firstIndex(of: ASCII.gt, b, c.pos..<c.end) ?? c.end
            guard c.pos < c.end else { throw .badRequest("Missing '>'") }
            uriRange = s..<c.pos
            c.pos += 1
        } else {
            let s = c.pos
            while c.pos < c.end, b[c.pos] != ASCII.semicolon, !ASCII.isWS(b[c.pos]) {
                let x = b[c.pos]
                if x == ASCII.question || x == ASCII.comma || x == ASCII.lt || x == ASCII.gt || x == ASCII.quote {
                    throw .badRequest("URI with '\(Character(Unicode.Scalar(x)))' must be enclosed in <>")
                }
                c.pos += 1
            }
            uriRange = s..<c.pos
        }
        guard !uriRange.isEmpty else { throw .badRequest("Empty URI") }
        guard build else {
            try URI.validate(b, uriRange)
            _ = try parseHeaderParameters(&c, build: false)
            return nil
        }
        // Bound from the call, not from an optional local: the URI moves into the value.
        guard let uri = try URI.scan(b, uriRange, build: true) else { return nil }
        let parameters = try parseHeaderParameters(&c, build: true)
        return NameAddr(displayName: displayName, uri: uri, parameters: parameters)
    }
}

/// `*( SEMI generic-param )` to the end of the cursor (RFC 3261 §25.1 `generic-param`):
/// `token [ EQUAL gen-value ]`, gen-value = token / host / quoted-string.
func parseHeaderParameters(_ c: inout Cursor, build: Bool = true) throws(SIPParseError) -> [SIPParameter] {
    try parseHeaderParameters(&c, build: build) { (_: Range<Int>, _: Range<Int>?) throws(SIPParseError) in }
}

/// As above, showing each parameter's name and value ranges to `inspect` (for checks).
func parseHeaderParameters(_ c: inout Cursor, build: Bool,
                           inspect: (Range<Int>, Range<Int>?) throws(SIPParseError) -> Void) throws(SIPParseError) -> [SIPParameter] {
    var out: [SIPParameter] = []
    while true {
        c.skipWS()
        if c.atEnd { return out }
        guard c.eat(ASCII.semicolon) else { throw .badRequest("Expected ';' before parameter") }
        c.skipWS()
        guard let n = c.token() else { throw .badRequest("Empty parameter") }
        var vr: Range<Int>?
        if c.eatSeparator(ASCII.equals) {
            if c.peek == ASCII.quote {
                guard let q = c.quotedString() else { throw .badRequest("Unbalanced quotes in parameter") }
                vr = q
            } else {
                let s = c.pos
                while c.pos < c.end, ASCII.isGenValueChar(c.bytes[c.pos]) { c.pos += 1 }
                guard c.pos > s else { throw .badRequest("Empty parameter value") }
                vr = s..<c.pos
            }
        }
        try inspect(n, vr)
        if build {
            // One allocation for the usual few parameters instead of growing 1, 2, 4.
            if out.isEmpty { out.reserveCapacity(4) }
            out.append(SIPParameter(name: c.string(n), value: vr.map { c.string($0) }))
        }
    }
}

/// One Contact value (RFC 3261 §20.10): `*` or a name-addr with contact parameters.
public struct ContactValue: Hashable, Sendable, CustomStringConvertible {
    public var isWildcard: Bool
    public var nameAddr: NameAddr?

    public init(nameAddr: NameAddr) {
        isWildcard = false
        self.nameAddr = nameAddr
    }

    public static let wildcard = ContactValue()
    private init() {
        isWildcard = true
        nameAddr = nil
    }

    /// `q` (0 to 1).
    public var q: Double? { (nameAddr?.parameter("q") ?? nil).flatMap(Double.init) }
    /// `expires` in seconds (§20.10); values past 2³²−1 are clamped to it, non-numbers are nil.
    public var expires: Int? { (nameAddr?.parameter("expires") ?? nil).flatMap(deltaSeconds) }
    /// `+sip.instance` without quotes and angle brackets' quotes (RFC 5626 §4.1), e.g. `<urn:uuid:...>`.
    public var instance: String? { (nameAddr?.parameter("+sip.instance") ?? nil).map(unquote) }
    /// `reg-id` (RFC 5626 §4.2).
    public var regID: Int? { (nameAddr?.parameter("reg-id") ?? nil).flatMap { Int($0) } }

    public var description: String { isWildcard ? "*" : nameAddr?.description ?? "*" }

    /// Parses a whole Contact field value (a comma-separated list or `*`).
    public static func parseList(_ text: String) throws(SIPParseError) -> [ContactValue] {
        try withBytes(text) { (b) throws(SIPParseError) in try parseList(b, 0..<b.count) }
    }

    static func parseList(_ b: Bytes, _ range: Range<Int>, build: Bool = true) throws(SIPParseError) -> [ContactValue] {
        var out: [ContactValue] = []
        try forEachListElement(b, range) { (r) throws(SIPParseError) in
            guard !r.isEmpty else { throw .badRequest("Empty Contact value") }
            if r.count == 1, b[r.lowerBound] == ASCII.star {
                if build { out.append(.wildcard) }
            } else {
                if let na = try NameAddr.scan(b, r, build: build) { out.append(ContactValue(nameAddr: na)) }
            }
        }
        return out
    }
}
