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

extension SIPHeaders {
    // The hot headers' typed values (the message accessors below forward here).
    /// All Via values, top first (RFC 3261 §20.42).
    @usableFromInline var vias: [Via] {
        get throws(SIPParseError) {
            var out: [Via] = []
            for e in entries where e.kind == .via {
                out += try withValueBytes(e) { (b, r) throws(SIPParseError) in try Via.parseList(b, r) }
            }
            return out
        }
    }

    /// The top Via (the one this element compares and removes).
    @usableFromInline var topVia: Via? {
        get throws(SIPParseError) {
            if let hot = cached(.via) { return hot.topVia }
            for e in entries where e.kind == .via {
                let top = try withValueBytes(e) { (b, r) throws(SIPParseError) -> Via? in
                    guard let x = firstListElementRange(b, r) else { return nil }
                    return try Via.parseList(b, x).first
                }
                if let top { return top }
            }
            return nil
        }
    }

    /// Call-ID (§20.8); the first when a message carries several.
    @usableFromInline var callID: String? {
        if let hot = cached(.callID) { return hot.callID }
        guard let e = entries.first(where: { $0.kind == .callID }) else { return nil }
        return value(of: e)
    }

    /// CSeq (§20.16).
    @usableFromInline var cseq: CSeq? {
        get throws(SIPParseError) {
            if let hot = cached(.cseq) { return hot.cseq }
            guard let e = entries.first(where: { $0.kind == .cseq }) else { return nil }
            return try withValueBytes(e) { (b, r) throws(SIPParseError) in try CSeq.parse(b, r) }
        }
    }

    /// From (§20.20); nil when absent or malformed.
    @usableFromInline var from: NameAddr? {
        if let hot = cached(.from) { return hot.from }
        return firstNameAddr(.from)
    }
    /// To (§20.39); nil when absent or malformed.
    @usableFromInline var to: NameAddr? {
        if let hot = cached(.to) { return hot.to }
        return firstNameAddr(.to)
    }

    /// All Contact values in order (§20.10); `*` as `ContactValue.wildcard`; malformed fields skipped.
    @usableFromInline var contacts: [ContactValue] {
        if let hot = cached(.contact) { return hot.contacts }
        var out: [ContactValue] = []
        for e in entries where e.kind == .contact {
            if let l = try? withValueBytes(e, throwing: { (b, r) throws(SIPParseError) in try ContactValue.parseList(b, r) }) { out += l }
        }
        return out
    }

    /// Max-Forwards (§20.22); nil when absent or not a number.
    @usableFromInline var maxForwards: Int? {
        if let hot = cached(.maxForwards) { return hot.maxForwards }
        guard let e = entries.first(where: { $0.kind == .maxForwards }) else { return nil }
        return withValueBytes(e) { b, r in parseDecimal(b, r, limit: UInt64(Int32.max)).map { Int($0) } }
    }

    /// Expires (§20.19) in seconds; values past 2³²−1 are clamped to it.
    @usableFromInline var expires: Int? {
        if let hot = cached(.expires) { return hot.expires }
        guard let e = entries.first(where: { $0.kind == .expires }) else { return nil }
        return withValueBytes(e) { b, r in deltaSeconds(b, r) }
    }
}

extension SIPHeaderAccess {
    // Inlinable forwarders: specialized at each call site for the concrete message type, so
    // a request's headers are read in place instead of copied out through the protocol (three
    // retains and releases per call, on every accessor of every layer).

    /// All Via values, top first (RFC 3261 §20.42).
    @inlinable public var vias: [Via] { get throws(SIPParseError) { try headers.vias } }

    /// The top Via (the one this element compares and removes).
    @inlinable public var topVia: Via? { get throws(SIPParseError) { try headers.topVia } }

    /// Call-ID (§20.8); the first when a message carries several.
    @inlinable public var callID: String? { headers.callID }

    /// CSeq (§20.16).
    @inlinable public var cseq: CSeq? { get throws(SIPParseError) { try headers.cseq } }

    /// From (§20.20); nil when absent or malformed.
    @inlinable public var from: NameAddr? { headers.from }
    /// To (§20.39); nil when absent or malformed.
    @inlinable public var to: NameAddr? { headers.to }

    /// All Contact values in order (§20.10); `*` as `ContactValue.wildcard`; malformed fields skipped.
    @inlinable public var contacts: [ContactValue] { headers.contacts }

    /// Max-Forwards (§20.22); nil when absent or not a number.
    @inlinable public var maxForwards: Int? { headers.maxForwards }

    /// Expires (§20.19) in seconds; values past 2³²−1 are clamped to it.
    @inlinable public var expires: Int? { headers.expires }
    /// Min-Expires (§20.23).
    public var minExpires: Int? { headers.first("Min-Expires").flatMap(deltaSeconds) }

    /// Route values, top first (§20.34).
    public var routes: [NameAddr] { headers.nameAddrList(.route) }
    /// Record-Route values, top first (§20.30).
    public var recordRoutes: [NameAddr] { headers.nameAddrList(.recordRoute) }
    /// Path values (RFC 3327).
    public var paths: [NameAddr] { headers.nameAddrList(.path) }

    /// The body's length: what the serializer writes as Content-Length (§20.14).
    public var contentLength: Int { body.count }

    func nameAddrList(_ name: String) -> [NameAddr] {
        headers[name].compactMap { try? NameAddr.parse($0) }
    }
}

extension SIPHeaders {
    /// The first field of `kind` as a name-addr, parsed from its bytes; nil when absent or malformed.
    func firstNameAddr(_ kind: HeaderKind) -> NameAddr? {
        guard let e = entries.first(where: { $0.kind == kind }) else { return nil }
        return try? withValueBytes(e, throwing: { (b, r) throws(SIPParseError) in try NameAddr.parse(b, r) })
    }

    /// Every element of every field of `kind` (a list header) as a name-addr; malformed ones skipped.
    func nameAddrList(_ kind: HeaderKind) -> [NameAddr] {
        var out: [NameAddr] = []
        for e in entries where e.kind == kind {
            withValueBytes(e) { b, r in
                forEachListElement(b, r) { x in
                    if !x.isEmpty, let na = try? NameAddr.parse(b, x) { out.append(na) }
                }
            }
        }
        return out
    }
}

func deltaSeconds(_ text: String) -> Int? {
    (try? withBytes(text) { b in deltaSeconds(b, 0..<b.count) }) ?? nil
}

/// `delta-seconds` (§25.1) in `b[r]` with surrounding whitespace; values past 2³²−1 are
/// clamped to it; nil when empty or not all digits.
func deltaSeconds(_ b: Bytes, _ r: Range<Int>) -> Int? {
    var s = r.lowerBound, e = r.upperBound
    while s < e, ASCII.isWS(b[s]) { s += 1 }
    while e > s, ASCII.isWS(b[e - 1]) { e -= 1 }
    guard s < e else { return nil }
    for i in s..<e where !ASCII.isDigit(b[i]) { return nil }
    return Int(parseDecimal(b, s..<e, limit: UInt64.max / 10).map { min($0, UInt64(UInt32.max)) } ?? UInt64(UInt32.max))
}

extension String {
    func trimmingWS() -> String {
        let u = utf8
        guard let s = u.firstIndex(where: { !ASCII.isWS($0) }) else { return "" }
        let e = u.lastIndex(where: { !ASCII.isWS($0) })!
        return String(self[s...e])
    }
}
