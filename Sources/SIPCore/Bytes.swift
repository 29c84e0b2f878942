#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Byte classes of the RFC 3261 §25.1 grammar, and a cursor over contiguous bytes.
/// Everything in SIPCore parses bytes, never Strings.

/// Byte constants and classes as literals and bit masks: no lazily initialised tables on
/// the hot path.
enum ASCII {
    static var sp: UInt8 { 0x20 }
    static var htab: UInt8 { 0x09 }
    static var cr: UInt8 { 0x0D }
    static var lf: UInt8 { 0x0A }
    static var colon: UInt8 { 0x3A }
    static var semicolon: UInt8 { 0x3B }
    static var comma: UInt8 { 0x2C }
    static var quote: UInt8 { 0x22 }
    static var backslash: UInt8 { 0x5C }
    static var lt: UInt8 { 0x3C }
    static var gt: UInt8 { 0x3E }
    static var equals: UInt8 { 0x3D }
    static var slash: UInt8 { 0x2F }
    static var at: UInt8 { 0x40 }
    static var question: UInt8 { 0x3F }
    static var percent: UInt8 { 0x25 }
    static var lbracket: UInt8 { 0x5B }
    static var rbracket: UInt8 { 0x5D }
    static var ampersand: UInt8 { 0x26 }
    static var dot: UInt8 { 0x2E }
    static var star: UInt8 { 0x2A }

    @inline(__always) static func inMask(_ b: UInt8, _ lo: UInt64, _ hi: UInt64) -> Bool {
        if b < 64 { return (lo >> UInt64(b)) & 1 != 0 }
        if b < 128 { return (hi >> UInt64(b &- 64)) & 1 != 0 }
        return false
    }

    /// `token` (§25.1): alphanum / `-.!%*_+\`'~`.
    @inline(__always) static func isToken(_ b: UInt8) -> Bool { inMask(b, 0x03FF_6CA2_0000_0000, 0x47FF_FFFF_87FF_FFFE) }
    /// `gen-value` characters outside quoted strings: token / host (`:` `[` `]` for IPv6).
    @inline(__always) static func isGenValueChar(_ b: UInt8) -> Bool { inMask(b, 0x07FF_6CA2_0000_0000, 0x47FF_FFFF_AFFF_FFFE) }
    @inline(__always) static func isAlphanum(_ b: UInt8) -> Bool { inMask(b, 0x03FF_0000_0000_0000, 0x07FF_FFFE_07FF_FFFE) }
    @inline(__always) static func isDigit(_ b: UInt8) -> Bool { b &- 0x30 < 10 }
    @inline(__always) static func isHex(_ b: UInt8) -> Bool { inMask(b, 0x03FF_0000_0000_0000, 0x0000_007E_0000_007E) }
    /// `unreserved` = alphanum / mark (§25.1).
    @inline(__always) static func isUnreserved(_ b: UInt8) -> Bool { inMask(b, 0x03FF_6782_0000_0000, 0x47FF_FFFE_87FF_FFFE) }
    /// hostname characters: alphanum / `-` / `.` (and `_`, tolerated).
    @inline(__always) static func isHostChar(_ b: UInt8) -> Bool { inMask(b, 0x03FF_6000_0000_0000, 0x07FF_FFFE_87FF_FFFE) }
    /// `user` characters: unreserved / escaped / user-unreserved.
    @inline(__always) static func isUserChar(_ b: UInt8) -> Bool { inMask(b, 0xABFF_FFF2_0000_0000, 0x47FF_FFFE_87FF_FFFE) }
    /// `password` characters.
    @inline(__always) static func isPasswordChar(_ b: UInt8) -> Bool { inMask(b, 0x23FF_7FF2_0000_0000, 0x47FF_FFFE_87FF_FFFE) }
    /// `paramchar` = param-unreserved / unreserved / escaped.
    @inline(__always) static func isParamChar(_ b: UInt8) -> Bool { inMask(b, 0x07FF_EFF2_0000_0000, 0x47FF_FFFE_AFFF_FFFE) }
    /// `hname` / `hvalue` characters: hnv-unreserved / unreserved / escaped.
    @inline(__always) static func isHeaderChar(_ b: UInt8) -> Bool { inMask(b, 0x87FF_EFB2_0000_0000, 0x47FF_FFFE_AFFF_FFFE) }
    @inline(__always) static func isWS(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 }
    @inline(__always) static func lower(_ b: UInt8) -> UInt8 { (b &- 0x41) < 26 ? b | 0x20 : b }
    @inline(__always) static func hexValue(_ b: UInt8) -> UInt8 {
        if isDigit(b) { return b - 0x30 }
        return lower(b) &- 0x61 &+ 10
    }
}

typealias Bytes = UnsafeBufferPointer<UInt8>

/// The index of the first `byte` in `b[r]` (memchr), nil when absent.
@inline(__always)
func firstIndex(of byte: UInt8, _ b: Bytes, _ r: Range<Int>) -> Int? {
    guard !r.isEmpty, let base = b.baseAddress, let p = memchr(base + r.lowerBound, Int32(byte), r.count) else { return nil }
    return UnsafeRawPointer(base).distance(to: UnsafeRawPointer(p))
}

@inline(__always)
func makeString(_ bytes: Bytes, _ range: Range<Int>) -> String {
    if let s = commonToken(bytes, range) { return s }
    return String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
}

/// The tokens most messages repeat (sent-protocol parts, parameter names), as string literals
/// so that making them costs nothing; nil for anything else. Exact bytes, case kept.
@inline(__always)
func commonToken(_ b: Bytes, _ r: Range<Int>) -> String? {
    @inline(__always) func eq(_ s: StaticString) -> Bool {
        guard let base = b.baseAddress else { return false }
        return memcmp(base + r.lowerBound, s.utf8Start, r.count) == 0
    }
    switch r.count {
    case 2:
        if eq("lr") { return "lr" }
    case 3:
        switch b[r.lowerBound] {
        case UInt8(ascii: "S"): if eq("SIP") { return "SIP" }
        case UInt8(ascii: "2"): if eq("2.0") { return "2.0" }
        case UInt8(ascii: "U"): if eq("UDP") { return "UDP" }
        case UInt8(ascii: "T"): if eq("TCP") { return "TCP" }; if eq("TLS") { return "TLS" }
        case UInt8(ascii: "t"): if eq("tag") { return "tag" }; if eq("tcp") { return "tcp" }; if eq("tls") { return "tls" }
        case UInt8(ascii: "u"): if eq("udp") { return "udp" }
        default: break
        }
    case 5:
        if eq("rport") { return "rport" }
    case 6:
        if eq("branch") { return "branch" }
        if eq("reg-id") { return "reg-id" }
    case 7:
        if eq("expires") { return "expires" }
    case 8:
        if eq("received") { return "received" }
    case 9:
        if eq("transport") { return "transport" }
    case 13:
        if eq("+sip.instance") { return "+sip.instance" }
    default: break
    }
    return nil
}

/// True when every byte of `b[r]` is below 0x80 (eight at a time).
@inline(__always)
func isASCII(_ b: Bytes, _ r: Range<Int>) -> Bool {
    guard let base = b.baseAddress else { return true }
    let raw = UnsafeRawPointer(base)
    var i = r.lowerBound
    while i + 8 <= r.upperBound {
        if raw.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 != 0 { return false }
        i += 8
    }
    while i < r.upperBound {
        if b[i] >= 0x80 { return false }
        i += 1
    }
    return true
}

/// True when `b[r]` is well-formed UTF-8 (for values that are not all ASCII).
func isValidUTF8(_ b: Bytes, _ r: Range<Int>) -> Bool {
    String(validating: UnsafeBufferPointer(rebasing: b[r]), as: UTF8.self) != nil
}

/// Runs `body` over the UTF-8 bytes of `text` without copying when it is native.
@inline(__always)
func withBytes<R>(_ text: String, _ body: (Bytes) throws(SIPParseError) -> R) throws(SIPParseError) -> R {
    var text = text
    let result: Result<R, SIPParseError> = text.withUTF8 { buf in
        do throws(SIPParseError) { return .success(try body(buf)) } catch { return .failure(error) }
    }
    return try result.get()
}

/// Case-insensitive ASCII comparison of a byte range with lowercase `lowered` bytes: exactly
/// `ASCII.lower(byte) == lowered byte` for each byte, eight (or four) bytes at a time.
@inline(__always)
func equalsLowercased(_ bytes: Bytes, _ range: Range<Int>, _ lowered: StaticString) -> Bool {
    let n = range.count
    guard n == lowered.utf8CodeUnitCount else { return false }
    guard n > 0, let base = bytes.baseAddress else { return n == 0 }
    let a = UnsafeRawPointer(base + range.lowerBound)
    let p = UnsafeRawPointer(lowered.utf8Start)
    if n >= 8 {
        // Whole words, then one last word overlapping the previous one.
        var i = 0
        while i + 8 < n {
            if lowerWord(a.loadUnaligned(fromByteOffset: i, as: UInt64.self)) != p.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
            i += 8
        }
        return lowerWord(a.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)) == p.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)
    }
    if n >= 4 {
        return lowerWord(UInt64(a.loadUnaligned(as: UInt32.self))) == UInt64(p.loadUnaligned(as: UInt32.self))
            && lowerWord(UInt64(a.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self))) == UInt64(p.loadUnaligned(fromByteOffset: n - 4, as: UInt32.self))
    }
    for i in 0..<n where ASCII.lower(a.load(fromByteOffset: i, as: UInt8.self)) != p.load(fromByteOffset: i, as: UInt8.self) { return false }
    return true
}

/// `ASCII.lower` applied to each byte of a word (SWAR): sets 0x20 in exactly the bytes A-Z.
@inline(__always)
func lowerWord(_ x: UInt64) -> UInt64 {
    let high: UInt64 = 0x8080_8080_8080_8080
    let low7 = x & ~high
    let geA = low7 &+ 0x3F3F_3F3F_3F3F_3F3F   // high bit set where byte7 >= 0x41
    let gtZ = low7 &+ 0x2525_2525_2525_2525   // high bit set where byte7 >= 0x5B
    let isUpper = geA & ~gtZ & ~x & high        // and the byte itself < 0x80
    return x | (isUpper >> 2)
}

func asciiCaseInsensitiveEqual(_ a: String, _ b: String) -> Bool {
    let x = a.utf8, y = b.utf8
    guard x.count == y.count else { return false }
    return zip(x, y).allSatisfy { ASCII.lower($0) == ASCII.lower($1) }
}

/// A cursor over one header value or URI (RFC 3261 §25.1 productions).
struct Cursor {
    let bytes: Bytes
    var pos: Int
    let end: Int

    init(_ bytes: Bytes, _ range: Range<Int>? = nil) {
        self.bytes = bytes
        self.pos = range?.lowerBound ?? 0
        self.end = range?.upperBound ?? bytes.count
    }

    var atEnd: Bool { pos >= end }
    var peek: UInt8? { pos < end ? bytes[pos] : nil }

    mutating func skipWS() { while pos < end, ASCII.isWS(bytes[pos]) { pos += 1 } }

    mutating func eat(_ b: UInt8) -> Bool {
        if pos < end, bytes[pos] == b { pos += 1; return true }
        return false
    }

    /// `SWS b SWS`, as in SEMI, COMMA, EQUAL, SLASH, HCOLON.
    mutating func eatSeparator(_ b: UInt8) -> Bool {
        let save = pos
        skipWS()
        if eat(b) { skipWS(); return true }
        pos = save
        return false
    }

    mutating func token() -> Range<Int>? {
        let start = pos
        while pos < end, ASCII.isToken(bytes[pos]) { pos += 1 }
        return pos > start ? start..<pos : nil
    }

    mutating func digits() -> Range<Int>? {
        let start = pos
        while pos < end, ASCII.isDigit(bytes[pos]) { pos += 1 }
        return pos > start ? start..<pos : nil
    }

    /// `quoted-string` (§25.1) including the quotes; nil when unbalanced.
    mutating func quotedString() -> Range<Int>? {
        guard pos < end, bytes[pos] == ASCII.quote else { return nil }
        let start = pos
        pos += 1
        while pos < end {
            let b = bytes[pos]
            // Neither `\`, `"`, CR nor LF: an ordinary character.
            if !ASCII.inMask(b, 0x0000_0004_0000_2400, 0x0000_0000_1000_0000) { pos += 1; continue }
            if b == ASCII.backslash {
                guard pos + 1 < end, bytes[pos + 1] != ASCII.cr, bytes[pos + 1] != ASCII.lf else { return nil }
                pos += 2
            } else if b == ASCII.quote {
                pos += 1
                return start..<pos
            } else if b == ASCII.cr || b == ASCII.lf {
                return nil
            } else {
                pos += 1
            }
        }
        return nil
    }

    func string(_ r: Range<Int>) -> String { makeString(bytes, r) }
}

/// Parses decimal digits into a UInt64, nil on overflow past `limit`.
func parseDecimal(_ bytes: Bytes, _ r: Range<Int>, limit: UInt64) -> UInt64? {
    var v: UInt64 = 0
    if r.count <= 18 {
        // Up to 18 digits cannot overflow; the prefixes only grow, so checking the limit once
        // at the end rejects exactly what checking every prefix would.
        for i in r {
            let d = bytes[i] &- 0x30
            guard d < 10 else { return nil }
            v = v &* 10 &+ UInt64(d)
        }
        return r.isEmpty || v > limit ? nil : v
    }
    for i in r {
        let d = bytes[i] &- 0x30
        guard d < 10 else { return nil }
        let (m, o1) = v.multipliedReportingOverflow(by: 10)
        let (s, o2) = m.addingReportingOverflow(UInt64(d))
        if o1 || o2 || s > limit { return nil }
        v = s
    }
    return r.isEmpty ? nil : v
}

func parseDecimal(_ text: String, limit: UInt64) -> UInt64? {
    var v: UInt64 = 0
    var any = false
    for b in text.utf8 {
        let d = b &- 0x30
        guard d < 10 else { return nil }
        let (m, o1) = v.multipliedReportingOverflow(by: 10)
        let (s, o2) = m.addingReportingOverflow(UInt64(d))
        if o1 || o2 || s > limit { return nil }
        v = s
        any = true
    }
    return any ? v : nil
}

/// Removes the quotes and quoted-pairs of a `quoted-string`; other text unchanged.
func unquote(_ text: String) -> String {
    let u = text.utf8
    guard u.count >= 2, u.first == ASCII.quote, u.last == ASCII.quote else { return text }
    var out = [UInt8]()
    out.reserveCapacity(u.count)
    var escaping = false
    for b in u.dropFirst().dropLast() {
        if escaping { out.append(b); escaping = false } else if b == ASCII.backslash { escaping = true } else { out.append(b) }
    }
    return String(decoding: out, as: UTF8.self)
}

/// Makes a `quoted-string` of `text`, escaping `"`, `\` and control characters as quoted-pairs.
func quote(_ text: String) -> String {
    var out = [UInt8]()
    out.reserveCapacity(text.utf8.count + 2)
    out.append(ASCII.quote)
    for b in text.utf8 {
        if b == ASCII.cr || b == ASCII.lf { out.append(ASCII.sp); continue }
        if b == ASCII.quote || b == ASCII.backslash || (b < 0x20 && b != ASCII.htab) || b == 0x7F {
            out.append(ASCII.backslash)
        }
        out.append(b)
    }
    out.append(ASCII.quote)
    return String(decoding: out, as: UTF8.self)
}
