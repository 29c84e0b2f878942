import Crypto

/// Digest algorithms (RFC 3261 §22.4 MD5; RFC 8760 §2.1 adds SHA-256; the `-sess` variants
/// per RFC 7616 §3.4.2). The registrar offers SHA-256 and MD5; it verifies all four.
public enum DigestAlgorithm: String, Hashable, Sendable, CaseIterable {
    case md5 = "MD5"
    case md5Sess = "MD5-sess"
    case sha256 = "SHA-256"
    case sha256Sess = "SHA-256-sess"

    /// Parses the `algorithm` parameter (case-insensitive); absent means MD5 (RFC 2617 §3.2.1).
    public init?(token: String?) {
        guard let token else {
            self = .md5
            return
        }
        guard let match = Self.allCases.first(where: { $0.rawValue.caseInsensitiveEquals(token) }) else { return nil }
        self = match
    }

    /// The underlying hash: SHA-256 for the SHA-256 family, MD5 otherwise.
    public var usesSHA256: Bool { self == .sha256 || self == .sha256Sess }
    public var isSession: Bool { self == .md5Sess || self == .sha256Sess }

    /// H(data) as lower-case hex (RFC 7616 §3.4: the digest is written as hex).
    public func hexHash(_ data: [UInt8]) -> [UInt8] {
        if usesSHA256 { return Hex.encode(SHA256.hash(data: data)) }
        return Hex.encode(Insecure.MD5.hash(data: data))
    }
}

/// The stored secret: HA1 = H(username ":" realm ":" password) for both hashes
/// (RFC 3261 §22.4, RFC 8760 §3), with username the AOR's user part and realm its domain.
public enum DigestHA1 {
    /// Both HA1s of `user@domain` with `password`, as raw bytes (16 for MD5, 32 for SHA-256).
    public static func compute(user: some StringProtocol, realm: some StringProtocol, password: some StringProtocol)
        -> (md5: [UInt8], sha256: [UInt8])
    {
        let input = Array("\(user):\(realm):\(password)".utf8)
        return (Array(Insecure.MD5.hash(data: input)), Array(SHA256.hash(data: input)))
    }

    /// Both HA1s for an address-of-record `user@domain`; nil when it has no `@`.
    public static func compute(aor: String, password: String) -> (md5: [UInt8], sha256: [UInt8])? {
        guard let at = aor.lastIndex(of: "@") else { return nil }
        return compute(user: aor[..<at], realm: aor[aor.index(after: at)...], password: password)
    }
}

/// Lower-case hex, as digest computations use it. Over raw bytes, not generic sequences:
/// callers in other modules would otherwise run an unspecialized per-byte iterator (it showed
/// in the REGISTER-with-digest profile).
package enum Hex {
    /// The hex digits of `raw`, two per byte.
    package static func encode(_ raw: UnsafeRawBufferPointer) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: raw.count * 2) { out, count in
            var i = 0
            for b in raw {
                out[i] = digit(b >> 4)
                out[i + 1] = digit(b & 0x0f)
                i += 2
            }
            count = i
        }
    }

    package static func encode(_ bytes: [UInt8]) -> [UInt8] { bytes.withUnsafeBytes { encode($0) } }
    /// A digest (`SHA256Digest`, `Insecure.MD5Digest`) in hex.
    package static func encode(_ digest: some Digest) -> [UInt8] { digest.withUnsafeBytes { encode($0) } }

    package static func string(_ bytes: [UInt8]) -> String { String(decoding: encode(bytes), as: UTF8.self) }

    @inline(__always)
    static func digit(_ v: UInt8) -> UInt8 { v < 10 ? 0x30 &+ v : 0x57 &+ v }

    /// Decodes hex (either case); nil on odd length or a non-hex digit.
    package static func decode(_ text: String) -> [UInt8]? {
        var text = text
        return text.withUTF8 { utf8 -> [UInt8]? in
            guard utf8.count % 2 == 0 else { return nil }
            var out: [UInt8] = []
            out.reserveCapacity(utf8.count / 2)
            var i = 0
            while i < utf8.count {
                guard let hi = nibble(utf8[i]), let lo = nibble(utf8[i + 1]) else { return nil }
                out.append(hi << 4 | lo)
                i += 2
            }
            return out
        }
    }

    package static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// Compares without an early exit, so the time taken does not reveal where they differ.
public func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    a.withUnsafeBytes { a in b.withUnsafeBytes { b in constantTimeEquals(a, b) } }
}

/// As above, over bytes in place (a MAC compared where it lies, without arrays).
package func constantTimeEquals(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    var diff: UInt8 = 0
    for i in 0..<a.count { diff |= a[i] ^ b[i] }
    return diff == 0
}

extension StringProtocol {
    /// Inlinable so each caller gets it specialized for its string types (unspecialized, the
    /// generic zip showed up in the digest path's profile).
    @inlinable
    package func caseInsensitiveEquals(_ other: some StringProtocol) -> Bool {
        let a = utf8, b = other.utf8
        guard a.count == b.count else { return false }
        var i = a.startIndex, j = b.startIndex
        while i != a.endIndex {
            let x = a[i], y = b[j]
            if x != y {
                let lx = x >= 65 && x <= 90 ? x + 32 : x
                let ly = y >= 65 && y <= 90 ? y + 32 : y
                if lx != ly { return false }
            }
            a.formIndex(after: &i)
            b.formIndex(after: &j)
        }
        return true
    }
}
