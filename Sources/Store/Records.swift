#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A user of the directory (ARCHITECTURE.md "Directory"): an address-of-record on one of our
/// domains, homed on one server, with digest HA1s (RFC 3261 §22.4, RFC 8760 §3) and never the
/// clear password. The HA1s are over `user:realm:password` with realm = the AOR's domain.
public struct UserRecord: Hashable, Sendable {
    /// The address-of-record without scheme, `user@domain` (domain in lower case).
    public var aor: String
    public var displayName: String?
    public var enabled: Bool
    /// The name of the home server this user is homed on; nil = this server / unassigned.
    public var homeServer: String?
    /// MD5(`user:realm:password`), 16 bytes.
    public var ha1MD5: [UInt8]
    /// SHA-256(`user:realm:password`), 32 bytes.
    public var ha1SHA256: [UInt8]

    public init(aor: String, displayName: String? = nil, enabled: Bool = true, homeServer: String? = nil,
                ha1MD5: [UInt8], ha1SHA256: [UInt8]) {
        self.aor = aor
        self.displayName = displayName
        self.enabled = enabled
        self.homeServer = homeServer
        self.ha1MD5 = ha1MD5
        self.ha1SHA256 = ha1SHA256
    }

    /// The user part of the AOR (the digest username).
    public var user: Substring { aor[..<(aor.lastIndex(of: "@") ?? aor.endIndex)] }
    /// The domain of the AOR (the digest realm).
    public var domain: Substring {
        guard let at = aor.lastIndex(of: "@") else { return "" }
        return aor[aor.index(after: at)...]
    }
}

/// Address-of-record text as the store keys it: `user@domain`, domain lower-cased
/// (RFC 3261 §19.1.4: host comparison is case-insensitive, user is case-sensitive).
public enum AOR {
    /// Validates and normalizes `user@domain`; nil when it is not of that shape.
    public static func normalize(_ text: String) -> String? { normalizeText(text) }

    /// The same, for a substring or another string type.
    public static func normalize(_ text: some StringProtocol) -> String? { normalizeText(text) }

    /// The one implementation, specialized here for each string type (a `String` caller in
    /// another module would otherwise run it unspecialized: it showed on the digest path).
    private static func normalizeText(_ text: some StringProtocol) -> String? {
        // On the hot path (every REGISTER and lookup): bytes, no allocation when already normal.
        let sub = Substring(text)
        let bytes = sub.utf8
        var start = bytes.startIndex
        for prefix in ["sip:", "sips:"] where bytes.starts(with: prefix.utf8) {
            start = bytes.index(start, offsetBy: prefix.utf8.count)
            break
        }
        guard let at = bytes[start...].lastIndex(of: UInt8(ascii: "@")) else { return nil }
        let user = bytes[start..<at]
        var domain = bytes[bytes.index(after: at)...]
        // A fully qualified name's trailing dot (`example.com.`) names the same domain: kept,
        // it would make a look-alike of every local user.
        let trailingDot = domain.count > 1 && domain.last == UInt8(ascii: ".")
        if trailingDot { domain = domain.dropLast() }
        guard !user.isEmpty, !domain.isEmpty else { return nil }
        for c in user where c == UInt8(ascii: ",") || c == 0x20 || c == 0x09 || c == UInt8(ascii: ":") || c == UInt8(ascii: ";") {
            return nil
        }
        var hasUpper = false
        for c in domain {
            switch c {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: ":"):
                continue
            case UInt8(ascii: "A")...UInt8(ascii: "Z"):
                hasUpper = true
            default:
                return nil
            }
        }
        if !hasUpper, !trailingDot, start == bytes.startIndex, let string = text as? String { return string }
        var out = Array(user)
        out.reserveCapacity(user.count + 1 + domain.count)
        out.append(UInt8(ascii: "@"))
        for c in domain { out.append(c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z") ? c + 32 : c) }
        return String(decoding: out, as: UTF8.self)
    }
}

/// A registration binding (RFC 3261 §10.3): the contact an address-of-record is reachable at,
/// with what the registrar must remember to order later REGISTERs (Call-ID, CSeq) and what
/// RFC 5626 (outbound: flow, +sip.instance, reg-id) and RFC 3327 (Path) add.
///
/// Kept compact: the in-memory location table holds one of these per binding.
public struct Binding: Hashable, Sendable {
    /// `user@domain` (see ``AOR``).
    public var aor: String
    /// The contact URI text as received (addr-spec, no angle brackets).
    public var contact: String
    /// Absolute expiry, seconds since the Unix epoch.
    public var expiresAt: Int64
    /// q-value in thousandths (0...1000), nil when the Contact had none (RFC 3261 §20.10).
    public var qThousandths: UInt16?
    public var callID: String
    public var cseq: UInt32
    /// The connection the REGISTER arrived over (transport's flow identity text), RFC 5626 §5.2.
    public var flow: String?
    /// `+sip.instance` value (RFC 5626 §4.1), e.g. `"<urn:uuid:...>"`.
    public var instance: String?
    /// `reg-id` (RFC 5626 §4.2).
    public var regID: UInt32?
    /// Path header values, in order (RFC 3327 §5.3); empty when none.
    public var path: [String]

    public init(aor: String, contact: String, expiresAt: Int64, qThousandths: UInt16? = nil, callID: String,
                cseq: UInt32, flow: String? = nil, instance: String? = nil, regID: UInt32? = nil, path: [String] = []) {
        self.aor = aor
        self.contact = contact
        self.expiresAt = expiresAt
        self.qThousandths = qThousandths
        self.callID = callID
        self.cseq = cseq
        self.flow = flow
        self.instance = instance
        self.regID = regID
        self.path = path
    }

    /// The q-value as a number (RFC 3261 §20.10), 1.0 when absent.
    public var q: Double { Double(qThousandths ?? 1000) / 1000 }
}

/// One change to the persisted bindings, applied in order within one transaction.
public enum BindingChange: Hashable, Sendable {
    /// Insert or replace the binding with this (aor, contact).
    case upsert(Binding)
    /// Remove the binding (aor, contact).
    case remove(aor: String, contact: String)
}

/// Seconds since the Unix epoch; injectable so tests can move time.
public struct StoreClock: Sendable {
    public var now: @Sendable () -> Int64
    public init(now: @escaping @Sendable () -> Int64) { self.now = now }
    /// The system's wall clock.
    public static let system = StoreClock { Int64(time(nil)) }
}

