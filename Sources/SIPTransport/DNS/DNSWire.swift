import NIOCore

extension SIPTransportError.Code {
    /// A DNS message that is malformed or truncated, or a name that cannot be asked for.
    public static let dnsMalformed = SIPTransportError.Code("dnsMalformed")
    /// No nameserver answered in time (after every retry).
    public static let dnsTimeout = SIPTransportError.Code("dnsTimeout")
    /// Nameservers answered SERVFAIL/REFUSED/..., or the resolver could not send.
    public static let dnsFailure = SIPTransportError.Code("dnsFailure")
    /// The name has no usable records (NXDOMAIN, or no records of the types asked for).
    public static let dnsNotFound = SIPTransportError.Code("dnsNotFound")
    /// Too many queries in flight: the resolver refuses more until some complete.
    public static let dnsOverloaded = SIPTransportError.Code("dnsOverloaded")
}

/// The DNS wire format (RFC 1035 §4): building a query and parsing any message, bounds
/// checked throughout. Parsing never traps on hostile input: every read is checked, names
/// are capped at 255 bytes, compression pointers must point backwards (so they cannot loop)
/// and are capped at ``maxPointerJumps``, and each section is capped at ``maxRecordsPerSection``.
public enum DNSWire {
    /// RFC 1035 §2.3.4.
    public static let maxNameLength = 255
    public static let maxLabelLength = 63
    public static let maxPointerJumps = 32
    public static let maxRecordsPerSection = 512
    /// What a query advertises in its EDNS0 OPT record (RFC 6891 §6.2.5; 1232 is the
    /// DNS flag day 2020 value that avoids IP fragmentation).
    public static let ednsUDPPayloadSize: UInt16 = 1232

    static func malformed(_ why: String) -> SIPTransportError {
        SIPTransportError(.dnsMalformed, "DNS message: \(why)")
    }

    // MARK: Building

    /// A standard query (opcode 0) for `question`, class IN, RD set, with an EDNS0 OPT record
    /// when `edns` is true. Throws for a name with an empty or over-long label or over 255 bytes.
    public static func query(id: UInt16, question: DNSQuestion, edns: Bool = true) throws(SIPTransportError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(32 + question.name.utf8.count)
        append16(&out, id)
        append16(&out, 0x0100)  // RD
        append16(&out, 1)  // QDCOUNT
        append16(&out, 0)
        append16(&out, 0)
        append16(&out, edns ? 1 : 0)  // ARCOUNT
        try appendName(&out, question.name)
        append16(&out, question.type.rawValue)
        append16(&out, 1)  // IN
        if edns {
            out.append(0)  // root
            append16(&out, 41)  // OPT
            append16(&out, ednsUDPPayloadSize)
            append16(&out, 0)
            append16(&out, 0)  // extended rcode, version, flags
            append16(&out, 0)  // RDLENGTH
        }
        return out
    }

    static func append16(_ out: inout [UInt8], _ v: UInt16) {
        out.append(UInt8(v >> 8))
        out.append(UInt8(v & 0xFF))
    }

    static func appendName(_ out: inout [UInt8], _ name: String) throws(SIPTransportError) {
        let normalized = DNSName.normalize(name)
        var total = 1
        if !normalized.isEmpty {
            for label in normalized.split(separator: ".", omittingEmptySubsequences: false) {
                let bytes = Array(label.utf8)
                guard !bytes.isEmpty, bytes.count <= maxLabelLength else {
                    throw malformed("bad label in name '\(name)'")
                }
                total += 1 + bytes.count
                guard total <= maxNameLength else { throw malformed("name '\(name)' is over 255 bytes") }
                out.append(UInt8(bytes.count))
                out.append(contentsOf: bytes)
            }
        }
        out.append(0)
    }

    // MARK: Parsing

    /// Parses a whole message. Throws ``SIPTransportError/Code/dnsMalformed`` for anything
    /// that is not a well-formed DNS message (never traps).
    public static func parse(_ bytes: [UInt8]) throws(SIPTransportError) -> DNSMessage {
        var r = Reader(bytes: bytes)
        guard bytes.count <= 65535 else { throw malformed("over 65535 bytes") }
        let id = try r.u16()
        let flags = try r.u16()
        let qd = Int(try r.u16()), an = Int(try r.u16()), ns = Int(try r.u16()), ar = Int(try r.u16())
        guard qd <= 4 else { throw malformed("\(qd) questions") }
        guard max(an, ns, ar) <= maxRecordsPerSection else { throw malformed("too many records") }
        var message = DNSMessage(
            id: id, isResponse: flags & 0x8000 != 0, opcode: UInt8((flags >> 11) & 0x0F),
            isAuthoritative: flags & 0x0400 != 0, isTruncated: flags & 0x0200 != 0,
            recursionDesired: flags & 0x0100 != 0, recursionAvailable: flags & 0x0080 != 0,
            responseCode: DNSResponseCode(rawValue: UInt8(flags & 0x000F)))
        for _ in 0..<qd {
            let name = try r.name()
            let type = try r.u16()
            _ = try r.u16()  // class
            message.questions.append(DNSQuestion(name: name, type: DNSRecordType(rawValue: type)))
        }
        message.answers = try r.records(an)
        message.authority = try r.records(ns)
        message.additional = try r.records(ar)
        return message
    }

    /// A cursor over a message; every read is bounds checked.
    struct Reader {
        let bytes: [UInt8]
        var offset = 0

        mutating func u8() throws(SIPTransportError) -> UInt8 {
            guard offset < bytes.count else { throw malformed("truncated at byte \(offset)") }
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func u16() throws(SIPTransportError) -> UInt16 {
            let hi = try u8(), lo = try u8()
            return UInt16(hi) << 8 | UInt16(lo)
        }

        mutating func u32() throws(SIPTransportError) -> UInt32 {
            let hi = try u16(), lo = try u16()
            return UInt32(hi) << 16 | UInt32(lo)
        }

        mutating func take(_ n: Int) throws(SIPTransportError) -> ArraySlice<UInt8> {
            guard n >= 0, n <= bytes.count - offset else { throw malformed("truncated at byte \(offset)") }
            defer { offset += n }
            return bytes[offset..<(offset + n)]
        }

        /// A length-prefixed character-string (RFC 1035 §3.3).
        mutating func characterString() throws(SIPTransportError) -> String {
            let n = Int(try u8())
            return String(decoding: try take(n), as: UTF8.self)
        }

        /// A possibly compressed name (RFC 1035 §4.1.4), lowercased, without the final dot.
        /// Leaves the cursor after the name's inline part.
        mutating func name() throws(SIPTransportError) -> String {
            var labels: [String] = []
            var wireLength = 1
            var position = offset
            var resumeAt: Int? = nil
            var jumps = 0
            // Each pointer must target a byte before the name part that holds it, so the
            // walk always moves backwards through the message and cannot loop.
            var segmentStart = offset
            while true {
                guard position < bytes.count else { throw malformed("name runs past the end") }
                let length = bytes[position]
                switch length & 0xC0 {
                case 0x00:
                    if length == 0 {
                        offset = resumeAt ?? (position + 1)
                        return labels.joined(separator: ".")
                    }
                    let n = Int(length)
                    guard n <= bytes.count - position - 1 else { throw malformed("label runs past the end") }
                    wireLength += 1 + n
                    guard wireLength <= maxNameLength else { throw malformed("name over 255 bytes") }
                    let label = bytes[(position + 1)...(position + n)]
                    guard label.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ".") }) else {
                        throw malformed("label with a byte not allowed in a host name")
                    }
                    labels.append(String(decoding: label, as: UTF8.self).lowercased())
                    position += 1 + n
                case 0xC0:
                    guard position + 1 < bytes.count else { throw malformed("pointer runs past the end") }
                    let target = Int(length & 0x3F) << 8 | Int(bytes[position + 1])
                    jumps += 1
                    guard jumps <= maxPointerJumps, target < segmentStart else {
                        throw malformed("compression pointer loop or forward pointer")
                    }
                    if resumeAt == nil { resumeAt = position + 2 }
                    position = target
                    segmentStart = target
                default:
                    throw malformed("label type \(length >> 6) not supported")
                }
            }
        }

        mutating func records(_ count: Int) throws(SIPTransportError) -> [DNSResourceRecord] {
            var out: [DNSResourceRecord] = []
            out.reserveCapacity(count)
            for _ in 0..<count { out.append(try record()) }
            return out
        }

        mutating func record() throws(SIPTransportError) -> DNSResourceRecord {
            let owner = try name()
            let type = DNSRecordType(rawValue: try u16())
            _ = try u16()  // class
            let rawTTL = try u32()
            let ttl = rawTTL & 0x8000_0000 != 0 ? 0 : rawTTL  // RFC 2181 §8
            let length = Int(try u16())
            guard length <= bytes.count - offset else { throw malformed("record data runs past the end") }
            let end = offset + length
            let data: DNSRecordData
            switch type {
            case .a:
                guard length == 4 else { throw malformed("A record of \(length) bytes") }
                data = .a(Array(try take(4)))
            case .aaaa:
                guard length == 16 else { throw malformed("AAAA record of \(length) bytes") }
                data = .aaaa(Array(try take(16)))
            case .cname:
                data = .cname(try name())
            case .srv:
                let priority = try u16(), weight = try u16(), port = try u16()
                data = .srv(DNSSRVRecord(priority: priority, weight: weight, port: port, target: try name()))
            case .naptr:
                let order = try u16(), preference = try u16()
                let flags = try characterString(), service = try characterString(), regexp = try characterString()
                data = .naptr(DNSNAPTRRecord(order: order, preference: preference, flags: flags, service: service,
                                             regexp: regexp, replacement: try name()))
            case .soa:
                _ = try name()
                _ = try name()
                _ = try take(16)  // serial, refresh, retry, expire
                data = .soa(minimum: try u32())
            default:
                data = .other
            }
            guard offset <= end else { throw malformed("\(type) data longer than its RDLENGTH") }
            // A decoded record's data must fill its RDLENGTH exactly; unknown types are skipped.
            if data != .other, offset != end { throw malformed("\(type) data shorter than its RDLENGTH") }
            offset = end
            return DNSResourceRecord(name: owner, type: type, ttl: ttl, data: data)
        }
    }
}
