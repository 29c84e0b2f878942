/// A `name[=value]` parameter as written (RFC 3261 §25.1 `generic-param`, `uri-parameter`).
/// Values are kept exactly as received: escaped, and quoted strings with their quotes.
public struct SIPParameter: Hashable, Sendable {
    public var name: String
    public var value: String?
    public init(name: String, value: String? = nil) {
        self.name = name
        self.value = value
    }
}

extension Array where Element == SIPParameter {
    /// The value of the first parameter named `name` (case-insensitive); `.some(nil)` for a flag.
    public func value(_ name: String) -> String?? {
        for p in self where asciiCaseInsensitiveEqual(p.name, name) { return .some(p.value) }
        return .none
    }
    /// The length `serialized(into:)` writes: each parameter with its separator and `=`.
    var serializedLength: Int {
        var n = 0
        for p in self { n += p.name.utf8.count + (p.value?.utf8.count ?? 0) + 2 }
        return n
    }
    func serialized(into out: inout String, separator: Character = ";") {
        for p in self {
            out.append(separator)
            out += p.name
            if let v = p.value { out.append("="); out += v }
        }
    }
}

/// A SIP or SIPS URI (RFC 3261 §19.1). Components are kept as written (escaped);
/// `isEquivalent(to:)` applies the §19.1.4 comparison rules.
public struct SIPURI: Hashable, Sendable, CustomStringConvertible {
    public var secure: Bool
    public var user: String?
    public var password: String?
    /// `example.com`, `192.0.2.1`, or an IPv6 reference with brackets `[2001:db8::1]`.
    public var host: String
    public var port: Int?
    public var parameters: [SIPParameter]
    public var headers: [SIPParameter]

    public init(secure: Bool = false, user: String? = nil, password: String? = nil, host: String, port: Int? = nil,
                parameters: [SIPParameter] = [], headers: [SIPParameter] = []) {
        self.secure = secure
        self.user = user
        self.password = password
        self.host = host
        self.port = port
        self.parameters = parameters
        self.headers = headers
    }

    public init?(_ text: String) {
        guard let uri = try? withBytes(text, { (b) throws(SIPParseError) in try SIPURI.parse(b, 0..<b.count) }) else { return nil }
        self = uri
    }

    /// The value of URI parameter `name`: nil absent, `.some(nil)` a flag parameter such as `lr`.
    public func parameter(_ name: String) -> String?? { parameters.value(name) }
    /// `transport` parameter, lowercased.
    public var transport: String? { parameter("transport").flatMap { $0?.lowercased() } }
    /// Loose routing (`lr`, RFC 3261 §16.12).
    public var hasLR: Bool { parameter("lr") != nil }
    /// `maddr` parameter.
    public var maddr: String? { parameter("maddr") ?? nil }

    /// The host without IPv6 brackets, for socket addresses.
    public var hostWithoutBrackets: String {
        if host.hasPrefix("["), host.hasSuffix("]") { return String(host.dropFirst().dropLast()) }
        return host
    }

    /// The address-of-record form (RFC 3261 §10.3 step 5): `sip:user@host`, parameters,
    /// port and password dropped, escapes normalized, host lowercased.
    public var addressOfRecord: String {
        var s = secure ? "sips:" : "sip:"
        if let user { s += String(decoding: normalizeEscapes(user, lowercase: false), as: UTF8.self); s += "@" }
        s += host.lowercased()
        return s
    }

    public var description: String {
        var s = ""
        s.reserveCapacity(estimatedLength)
        append(to: &s)
        return s
    }

    /// An upper bound of the text's length for the usual URI (a capacity to reserve: one
    /// allocation for the whole text instead of one per growth).
    var estimatedLength: Int {
        var n = 5 + host.utf8.count + 6
        if let user { n += user.utf8.count + 1 }
        if let password { n += password.utf8.count + 1 }
        return n + parameters.serializedLength + headers.serializedLength
    }

    /// Appends the URI's text (§19.1.1, components as kept) to `s`.
    func append(to s: inout String) {
        s += secure ? "sips:" : "sip:"
        if let user {
            s += user
            if let password { s += ":"; s += password }
            s += "@"
        }
        s += host
        if let port { s += ":"; s += String(port) }
        parameters.serialized(into: &s)
        if !headers.isEmpty {
            var first = true
            for h in headers {
                s += first ? "?" : "&"
                first = false
                s += h.name
                s += "="
                s += h.value ?? ""
            }
        }
    }

    /// RFC 3261 §19.1.4 equivalence: scheme, userinfo (case-sensitive, escapes normalized),
    /// host (case-insensitive), port (explicit differs from absent), the parameters
    /// user/ttl/method/maddr/transport wherever either has them, other parameters only when in
    /// both, headers all and equal. Escapes are decoded once only, never recursively.
    public func isEquivalent(to other: SIPURI) -> Bool {
        guard secure == other.secure, port == other.port else { return false }
        guard optionalEqual(user, other.user, lowercase: false),
              optionalEqual(password, other.password, lowercase: false) else { return false }
        guard normalizeEscapes(host, lowercase: true) == normalizeEscapes(other.host, lowercase: true) else { return false }
        // Parameter and header names compare with escapes normalized and case folded too.
        func normalized(_ ps: [SIPParameter]) -> [[UInt8]: [UInt8]?] {
            var d: [[UInt8]: [UInt8]?] = [:]
            for p in ps where d[normalizeEscapes(p.name, lowercase: true)] == nil {
                d[normalizeEscapes(p.name, lowercase: true)] = .some(p.value.map { normalizeEscapes($0, lowercase: true) })
            }
            return d
        }
        let mine = normalized(parameters), theirs = normalized(other.parameters)
        for name in ["user", "ttl", "method", "maddr", "transport"] {
            let key = Array(name.utf8)
            if mine[key] != nil || theirs[key] != nil {
                guard let a = mine[key], let b = theirs[key], a == b else { return false }
            }
        }
        for (name, value) in mine {
            if let theirValue = theirs[name], theirValue != value { return false }
        }
        guard headers.count == other.headers.count else { return false }
        let myHeaders = normalized(headers), theirHeaders = normalized(other.headers)
        return myHeaders == theirHeaders
    }

    // MARK: parsing (RFC 3261 §25.1 SIP-URI)

    static func parse(_ b: Bytes, _ range: Range<Int>) throws(SIPParseError) -> SIPURI { try scan(b, range, build: true)! }
    /// Checks the grammar only, building nothing.
    static func validate(_ b: Bytes, _ range: Range<Int>) throws(SIPParseError) { _ = try scan(b, range, build: false) }

    /// The grammar; builds the value only when `build` (else returns nil after checking).
    static func scan(_ b: Bytes, _ range: Range<Int>, build: Bool) throws(SIPParseError) -> SIPURI? {
        var i = range.lowerBound
        let end = range.upperBound
        func fail(_ why: String) -> SIPParseError { .badRequest("Malformed SIP URI: \(why)") }
        // scheme
        var secure = false
        if equalsLowercased(b, i..<min(i + 4, end), "sip:") { i += 4 } else if equalsLowercased(b, i..<min(i + 5, end), "sips:") {
            i += 5
            secure = true
        } else { throw fail("scheme") }
        // userinfo: up to '@' (no '@' may appear elsewhere)
        var user: String?, password: String?
        let at = firstIndex(of: ASCII.at, b, i..<end) ?? -1
        if at >= 0 {
            var colon = -1
            for k in i..<at {
                let c = b[k]
                if c == ASCII.colon && colon < 0 { colon = k; continue }
                if colon < 0 {
                    guard isUserChar(c) else { throw fail("character in user") }
                } else {
                    guard isPasswordChar(c) else { throw fail("character in password") }
                }
                if c == ASCII.percent { guard k + 2 < at, ASCII.isHex(b[k + 1]), ASCII.isHex(b[k + 2]) else { throw fail("escape") } }
            }
            let userEnd = colon >= 0 ? colon : at
            guard userEnd > i else { throw fail("empty user") }
            if build {
                user = makeString(b, i..<userEnd)
                if colon >= 0 { password = makeString(b, (colon + 1)..<at) }
            }
            i = at + 1
        }
        // host
        let hostStart = i
        if i < end, b[i] == ASCII.lbracket {
            i += 1
            while i < end, b[i] != ASCII.rbracket {
                guard ASCII.isHex(b[i]) || b[i] == ASCII.colon || b[i] == ASCII.dot else { throw fail("IPv6 reference") }
                i += 1
            }
            guard i < end, i > hostStart + 1 else { throw fail("IPv6 reference") }
            i += 1
        } else {
            while i < end, ASCII.isHostChar(b[i]) { i += 1 }
            guard i > hostStart else { throw fail("empty host") }
        }
        let host = build ? makeString(b, hostStart..<i) : ""
        var port: Int?
        if i < end, b[i] == ASCII.colon {
            i += 1
            let ps = i
            while i < end, ASCII.isDigit(b[i]) { i += 1 }
            guard let p = parseDecimal(b, ps..<i, limit: 65535) else { throw fail("port") }
            port = Int(p)
        }
        var parameters: [SIPParameter] = []
        while i < end, b[i] == ASCII.semicolon {
            i += 1
            let ns = i
            while i < end, isParamChar(b[i]) { i += 1 }
            guard i > ns else { throw fail("empty parameter") }
            var vr: Range<Int>?
            if i < end, b[i] == ASCII.equals {
                i += 1
                let vs = i
                while i < end, isParamChar(b[i]) { i += 1 }
                guard i > vs else { throw fail("empty parameter value") }
                vr = vs..<i
            }
            if build { parameters.append(SIPParameter(name: makeString(b, ns..<i - (vr.map { $0.count + 1 } ?? 0)), value: vr.map { makeString(b, $0) })) }
        }
        var headers: [SIPParameter] = []
        if i < end, b[i] == ASCII.question {
            repeat {
                i += 1
                let ns = i
                while i < end, isHeaderChar(b[i]) { i += 1 }
                guard i > ns, i < end, b[i] == ASCII.equals else { throw fail("header") }
                let nr = ns..<i
                i += 1
                let vs = i
                while i < end, isHeaderChar(b[i]) { i += 1 }
                if build { headers.append(SIPParameter(name: makeString(b, nr), value: makeString(b, vs..<i))) }
            } while i < end && b[i] == ASCII.ampersand
        }
        guard i == end else { throw fail("unexpected character") }
        guard build else { return nil }
        return SIPURI(secure: secure, user: user, password: password, host: host, port: port,
                      parameters: parameters, headers: headers)
    }

    @inline(__always) static func isUserChar(_ c: UInt8) -> Bool { ASCII.isUserChar(c) }
    @inline(__always) static func isPasswordChar(_ c: UInt8) -> Bool { ASCII.isPasswordChar(c) }
    @inline(__always) static func isParamChar(_ c: UInt8) -> Bool { ASCII.isParamChar(c) }
    @inline(__always) static func isHeaderChar(_ c: UInt8) -> Bool { ASCII.isHeaderChar(c) }
}

private func optionalEqual(_ a: String?, _ b: String?, lowercase: Bool) -> Bool {
    switch (a, b) {
    case (nil, nil): return true
    case let (x?, y?): return normalizeEscapes(x, lowercase: lowercase) == normalizeEscapes(y, lowercase: lowercase)
    default: return false
    }
}

/// RFC 3261 §19.1.4: an escaped character other than a reserved one (or a control) is
/// equivalent to itself; reserved and control characters stay escaped, with upper-case hex.
/// Decodes exactly once, so `%2541` stays `%2541` and never becomes `A`.
func normalizeEscapes(_ text: String, lowercase: Bool) -> [UInt8] {
    let u = Array(text.utf8)
    var out = [UInt8]()
    out.reserveCapacity(u.count)
    var i = 0
    while i < u.count {
        let c = u[i]
        if c == ASCII.percent, i + 2 < u.count, ASCII.isHex(u[i + 1]), ASCII.isHex(u[i + 2]) {
            let v = ASCII.hexValue(u[i + 1]) << 4 | ASCII.hexValue(u[i + 2])
            if ASCII.isUnreserved(v) || v >= 0x80 {
                out.append(lowercase ? ASCII.lower(v) : v)
            } else {
                out.append(ASCII.percent)
                let hex: [UInt8] = Array("0123456789ABCDEF".utf8)
                out.append(hex[Int(v >> 4)])
                out.append(hex[Int(v & 15)])
            }
            i += 3
        } else {
            out.append(lowercase ? ASCII.lower(c) : c)
            i += 1
        }
    }
    return out
}

/// Decodes `%HH` escapes once (RFC 3261 §19.1.2); for display and lookups, never re-applied.
public func sipPercentDecoded(_ text: String) -> String {
    let u = Array(text.utf8)
    var out = [UInt8]()
    var i = 0
    while i < u.count {
        if u[i] == ASCII.percent, i + 2 < u.count, ASCII.isHex(u[i + 1]), ASCII.isHex(u[i + 2]) {
            out.append(ASCII.hexValue(u[i + 1]) << 4 | ASCII.hexValue(u[i + 2]))
            i += 3
        } else {
            out.append(u[i])
            i += 1
        }
    }
    return String(decoding: out, as: UTF8.self)
}
