/// The Digest credentials of an Authorization or Proxy-Authorization value
/// (RFC 3261 §25.1 `digest-response`, RFC 8760 §2.3): `Digest` then comma-separated
/// `name=value` parameters, values tokens or quoted strings.
public struct DigestResponse: Hashable, Sendable {
    public var username: String
    public var realm: String
    public var nonce: String
    /// `uri` (digest-uri): the Request-URI as the client saw it.
    public var uri: String
    public var response: String
    public var algorithm: String?
    public var cnonce: String?
    public var opaque: String?
    public var qop: String?
    /// `nc` as sent: 8 hex digits.
    public var nonceCount: String?

    public init(username: String, realm: String, nonce: String, uri: String, response: String, algorithm: String? = nil,
                cnonce: String? = nil, opaque: String? = nil, qop: String? = nil, nonceCount: String? = nil) {
        self.username = username
        self.realm = realm
        self.nonce = nonce
        self.uri = uri
        self.response = response
        self.algorithm = algorithm
        self.cnonce = cnonce
        self.opaque = opaque
        self.qop = qop
        self.nonceCount = nonceCount
    }

    /// Parses one credentials value; nil when the scheme is not Digest or a required
    /// parameter (username, realm, nonce, uri, response) is missing or the list is malformed.
    public init?(parsing text: String) {
        guard let params = Self.parameters(text) else { return nil }
        // One pass; the first of a repeated parameter counts.
        var username, realm, nonce, uri, response, algorithm, cnonce, opaque, qop, nc: String?
        for (name, value) in params {
            switch name.lowercased() {
            case "username": username = username ?? value
            case "realm": realm = realm ?? value
            case "nonce": nonce = nonce ?? value
            case "uri": uri = uri ?? value
            case "response": response = response ?? value
            case "algorithm": algorithm = algorithm ?? value
            case "cnonce": cnonce = cnonce ?? value
            case "opaque": opaque = opaque ?? value
            case "qop": qop = qop ?? value
            case "nc": nc = nc ?? value
            default: break
            }
        }
        guard let username, let realm, let nonce, let uri, let response else { return nil }
        self.init(username: username, realm: realm, nonce: nonce, uri: uri, response: response,
                  algorithm: algorithm, cnonce: cnonce, opaque: opaque, qop: qop, nonceCount: nc)
    }

    /// `Digest` + auth-params (RFC 3261 §25.1 `digest-cln`), unquoted; nil when malformed.
    package static func parameters(_ text: String) -> [(String, String)]? {
        var text = text
        return text.withUTF8 { parameters(utf8: $0) }
    }

    private static func parameters(utf8 b: UnsafeBufferPointer<UInt8>) -> [(String, String)]? {
        var i = 0
        func skipWS() { while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0d || b[i] == 0x0a { i += 1 } }
        func isToken(_ c: UInt8) -> Bool {
            c > 0x20 && c < 0x7f && c != UInt8(ascii: ",") && c != UInt8(ascii: "=") && c != UInt8(ascii: "\"")
                && c != UInt8(ascii: ";")
        }
        func string(_ r: Range<Int>) -> String { String(decoding: UnsafeBufferPointer(rebasing: b[r]), as: UTF8.self) }
        skipWS()
        let schemeStart = i
        while i < b.count, isToken(b[i]) { i += 1 }
        guard string(schemeStart..<i).caseInsensitiveEquals("Digest") else { return nil }
        var out: [(String, String)] = []
        out.reserveCapacity(10)
        while true {
            skipWS()
            if i >= b.count { break }
            let nameStart = i
            while i < b.count, isToken(b[i]) { i += 1 }
            guard i > nameStart else { return nil }
            let name = string(nameStart..<i)
            skipWS()
            guard i < b.count, b[i] == UInt8(ascii: "=") else { return nil }
            i += 1
            skipWS()
            let value: String
            if i < b.count, b[i] == UInt8(ascii: "\"") {
                i += 1
                let valueStart = i
                var escaped: [UInt8]?  // only a value with quoted-pairs is copied byte by byte
                var closed = false
                while i < b.count {
                    if b[i] == UInt8(ascii: "\\"), i + 1 < b.count {
                        if escaped == nil { escaped = Array(b[valueStart..<i]) }
                        escaped!.append(b[i + 1])
                        i += 2
                    } else if b[i] == UInt8(ascii: "\"") {
                        closed = true
                        break
                    } else {
                        escaped?.append(b[i])
                        i += 1
                    }
                }
                guard closed else { return nil }
                value = escaped.map { String(decoding: $0, as: UTF8.self) } ?? string(valueStart..<i)
                i += 1
            } else {
                let valueStart = i
                while i < b.count, isToken(b[i]) { i += 1 }
                guard i > valueStart else { return nil }
                value = string(valueStart..<i)
            }
            out.append((name, value))
            skipWS()
            if i < b.count {
                guard b[i] == UInt8(ascii: ",") else { return nil }
                i += 1
            }
        }
        return out
    }
}

/// A Digest challenge (WWW-Authenticate / Proxy-Authenticate, RFC 3261 §22.1, RFC 8760 §2.2).
public struct DigestChallengeValue: Hashable, Sendable, CustomStringConvertible {
    public var realm: String
    public var nonce: String
    public var algorithm: DigestAlgorithm
    public var stale: Bool

    public init(realm: String, nonce: String, algorithm: DigestAlgorithm, stale: Bool = false) {
        self.realm = realm
        self.nonce = nonce
        self.algorithm = algorithm
        self.stale = stale
    }

    public var description: String {
        var s = "Digest realm=\"\(realm)\", nonce=\"\(nonce)\", algorithm=\(algorithm.rawValue), qop=\"auth\""
        if stale { s += ", stale=true" }
        return s
    }
}
