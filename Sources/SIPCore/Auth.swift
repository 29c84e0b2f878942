/// `challenge` / `credentials` (RFC 3261 §20.27, §20.28, §20.7, §20.44, §25.1; RFC 2617 §3.2):
/// the scheme and its comma-separated `auth-param`s. Any scheme is kept; for Digest the
/// parameters are typed. Values in `parameters` are as received (quoted strings with quotes).
public struct AuthParameters: Hashable, Sendable, CustomStringConvertible {
    public var scheme: String
    public var parameters: [SIPParameter]
    /// The text after the scheme, as received (for schemes whose syntax is not auth-params).
    public var rawParameters: String

    public init(scheme: String, parameters: [SIPParameter]) {
        self.scheme = scheme
        self.parameters = parameters
        var s = ""
        for (i, p) in parameters.enumerated() {
            if i > 0 { s += ", " }
            s += p.name
            if let v = p.value { s += "="; s += v }
        }
        self.rawParameters = s
    }

    /// The value of `name` with quotes removed; nil when absent.
    public func parameter(_ name: String) -> String? { (parameters.value(name) ?? nil).map(unquote) }

    public var isDigest: Bool { asciiCaseInsensitiveEqual(scheme, "Digest") }

    public var description: String { rawParameters.isEmpty ? scheme : scheme + " " + rawParameters }

    public static func parse(_ text: String) throws(SIPParseError) -> AuthParameters {
        try withBytes(text) { (b) throws(SIPParseError) in
            var c = Cursor(b)
            c.skipWS()
            guard let s = c.token() else { throw .badRequest("Malformed authentication scheme") }
            let scheme = c.string(s)
            c.skipWS()
            let rawStart = c.pos
            var raw = c.end
            while raw > rawStart, ASCII.isWS(b[raw - 1]) { raw -= 1 }
            let rawText = c.string(rawStart..<raw)
            var params: [SIPParameter] = []
            var ok = true
            while !c.atEnd && ok {
                guard let n = c.token(), c.eatSeparator(ASCII.equals) else { ok = false; break }
                var v: Range<Int>?
                if c.peek == ASCII.quote { v = c.quotedString() } else { v = c.token() }
                guard let v else { ok = false; break }
                params.append(SIPParameter(name: c.string(n), value: c.string(v)))
                c.skipWS()
                if c.atEnd { break }
                guard c.eat(ASCII.comma) else { ok = false; break }
                c.skipWS()
            }
            var result = AuthParameters(scheme: scheme, parameters: ok ? params : [])
            result.rawParameters = rawText
            return result
        }
    }
}

/// WWW-Authenticate / Proxy-Authenticate (RFC 3261 §20.44, §20.27; RFC 2617 §3.2.1).
public struct DigestChallenge: Hashable, Sendable, CustomStringConvertible {
    public var auth: AuthParameters
    public init(_ auth: AuthParameters) { self.auth = auth }

    /// A Digest challenge with the usual quoting (realm, nonce, opaque, qop quoted).
    public init(realm: String, nonce: String, algorithm: String? = "MD5", qop: [String] = ["auth"],
                opaque: String? = nil, stale: Bool = false) {
        var p = [SIPParameter(name: "realm", value: quote(realm)), SIPParameter(name: "nonce", value: quote(nonce))]
        if let opaque { p.append(SIPParameter(name: "opaque", value: quote(opaque))) }
        if let algorithm { p.append(SIPParameter(name: "algorithm", value: algorithm)) }
        if !qop.isEmpty { p.append(SIPParameter(name: "qop", value: quote(qop.joined(separator: ",")))) }
        if stale { p.append(SIPParameter(name: "stale", value: "true")) }
        auth = AuthParameters(scheme: "Digest", parameters: p)
    }

    public static func parse(_ text: String) throws(SIPParseError) -> DigestChallenge { DigestChallenge(try AuthParameters.parse(text)) }

    public var scheme: String { auth.scheme }
    public var isDigest: Bool { auth.isDigest }
    public var realm: String? { auth.parameter("realm") }
    public var nonce: String? { auth.parameter("nonce") }
    public var opaque: String? { auth.parameter("opaque") }
    public var algorithm: String? { auth.parameter("algorithm") }
    public var domain: String? { auth.parameter("domain") }
    public var stale: Bool { auth.parameter("stale").map { $0.lowercased() == "true" } ?? false }
    /// `qop-options` split at commas.
    public var qop: [String] {
        guard let q = auth.parameter("qop") else { return [] }
        return q.split(separator: ",").map { String($0).trimmingWS() }.filter { !$0.isEmpty }
    }
    public var description: String { auth.description }
}

/// Authorization / Proxy-Authorization (RFC 3261 §20.7, §20.28; RFC 2617 §3.2.2).
public struct DigestCredentials: Hashable, Sendable, CustomStringConvertible {
    public var auth: AuthParameters
    public init(_ auth: AuthParameters) { self.auth = auth }

    /// Digest credentials with the usual quoting (algorithm, qop and nc unquoted).
    public init(username: String, realm: String, nonce: String, uri: String, response: String,
                algorithm: String? = nil, cnonce: String? = nil, opaque: String? = nil, qop: String? = nil, nc: String? = nil) {
        var p = [SIPParameter(name: "username", value: quote(username)), SIPParameter(name: "realm", value: quote(realm)),
                 SIPParameter(name: "nonce", value: quote(nonce)), SIPParameter(name: "uri", value: quote(uri)),
                 SIPParameter(name: "response", value: quote(response))]
        if let algorithm { p.append(SIPParameter(name: "algorithm", value: algorithm)) }
        if let cnonce { p.append(SIPParameter(name: "cnonce", value: quote(cnonce))) }
        if let opaque { p.append(SIPParameter(name: "opaque", value: quote(opaque))) }
        if let qop { p.append(SIPParameter(name: "qop", value: qop)) }
        if let nc { p.append(SIPParameter(name: "nc", value: nc)) }
        auth = AuthParameters(scheme: "Digest", parameters: p)
    }

    public static func parse(_ text: String) throws(SIPParseError) -> DigestCredentials { DigestCredentials(try AuthParameters.parse(text)) }

    public var scheme: String { auth.scheme }
    public var isDigest: Bool { auth.isDigest }
    public var username: String? { auth.parameter("username") }
    public var realm: String? { auth.parameter("realm") }
    public var nonce: String? { auth.parameter("nonce") }
    public var uri: String? { auth.parameter("uri") }
    public var response: String? { auth.parameter("response") }
    public var algorithm: String? { auth.parameter("algorithm") }
    public var cnonce: String? { auth.parameter("cnonce") }
    public var opaque: String? { auth.parameter("opaque") }
    public var qop: String? { auth.parameter("qop") }
    /// `nonce-count`, 8 hex digits.
    public var nc: String? { auth.parameter("nc") }
    public var description: String { auth.description }
}
