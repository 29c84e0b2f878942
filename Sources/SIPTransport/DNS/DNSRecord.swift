import NIOCore

/// A DNS resource record type (RFC 1035 §3.2.2), extensible like the error codes: the ones
/// RFC 3263 needs are named.
public struct DNSRecordType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// An IPv4 host address (RFC 1035 §3.4.1).
    public static let a = DNSRecordType(rawValue: 1)
    /// The canonical name for an alias (RFC 1035 §3.3.1).
    public static let cname = DNSRecordType(rawValue: 5)
    /// The start of a zone of authority (RFC 1035 §3.3.13); read for negative caching.
    public static let soa = DNSRecordType(rawValue: 6)
    /// An IPv6 host address (RFC 3596).
    public static let aaaa = DNSRecordType(rawValue: 28)
    /// A service location (RFC 2782).
    public static let srv = DNSRecordType(rawValue: 33)
    /// A naming authority pointer (RFC 3403).
    public static let naptr = DNSRecordType(rawValue: 35)

    public var description: String {
        switch self {
        case .a: "A"
        case .cname: "CNAME"
        case .soa: "SOA"
        case .aaaa: "AAAA"
        case .srv: "SRV"
        case .naptr: "NAPTR"
        default: "TYPE\(rawValue)"
        }
    }
}

/// The response code of a DNS header (RFC 1035 §4.1.1).
public struct DNSResponseCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let noError = DNSResponseCode(rawValue: 0)
    public static let formatError = DNSResponseCode(rawValue: 1)
    public static let serverFailure = DNSResponseCode(rawValue: 2)
    /// The name does not exist (NXDOMAIN).
    public static let nameError = DNSResponseCode(rawValue: 3)
    public static let notImplemented = DNSResponseCode(rawValue: 4)
    public static let refused = DNSResponseCode(rawValue: 5)

    public var description: String {
        switch self {
        case .noError: "NOERROR"
        case .formatError: "FORMERR"
        case .serverFailure: "SERVFAIL"
        case .nameError: "NXDOMAIN"
        case .notImplemented: "NOTIMP"
        case .refused: "REFUSED"
        default: "RCODE\(rawValue)"
        }
    }
}

/// An SRV record's data (RFC 2782): where a service runs.
public struct DNSSRVRecord: Hashable, Sendable {
    /// Lower is tried first.
    public var priority: UInt16
    /// The relative share among records of one priority (weighted random selection).
    public var weight: UInt16
    public var port: UInt16
    /// The host; "." (stored as the empty string) means the service is not available here.
    public var target: String

    public init(priority: UInt16, weight: UInt16, port: UInt16, target: String) {
        self.priority = priority
        self.weight = weight
        self.port = port
        self.target = target
    }
}

/// A NAPTR record's data (RFC 3403 §4.1).
public struct DNSNAPTRRecord: Hashable, Sendable {
    /// Lower is processed first.
    public var order: UInt16
    /// Among records of one order, lower is preferred.
    public var preference: UInt16
    /// `s` means the replacement names SRV records (RFC 3263 §4.1); compared case-insensitively.
    public var flags: String
    /// The service, e.g. `SIP+D2U`, `SIP+D2T`, `SIPS+D2T` (RFC 3263 §4.1).
    public var service: String
    public var regexp: String
    /// The next name to look up; the empty string for ".".
    public var replacement: String

    public init(order: UInt16, preference: UInt16, flags: String, service: String, regexp: String, replacement: String) {
        self.order = order
        self.preference = preference
        self.flags = flags
        self.service = service
        self.regexp = regexp
        self.replacement = replacement
    }
}

/// The data of a record, decoded for the types RFC 3263 needs.
public enum DNSRecordData: Hashable, Sendable {
    /// Four bytes, network order.
    case a([UInt8])
    /// Sixteen bytes, network order.
    case aaaa([UInt8])
    case cname(String)
    case srv(DNSSRVRecord)
    case naptr(DNSNAPTRRecord)
    /// SOA: only the MINIMUM field (RFC 2308 §5: the negative-caching TTL) is kept.
    case soa(minimum: UInt32)
    /// Any other type, its data not kept.
    case other
}

/// One resource record (RFC 1035 §4.1.3). Names are lowercased and without the final dot.
public struct DNSResourceRecord: Hashable, Sendable {
    public var name: String
    public var type: DNSRecordType
    /// Seconds the record may be cached (RFC 1035 §3.2.1; RFC 2181 §8: a value with the top
    /// bit set is read as 0).
    public var ttl: UInt32
    public var data: DNSRecordData

    public init(name: String, type: DNSRecordType, ttl: UInt32, data: DNSRecordData) {
        self.name = name
        self.type = type
        self.ttl = ttl
        self.data = data
    }

    /// The address an A or AAAA record carries, with `port`; nil for other types.
    public func socketAddress(port: Int) -> SocketAddress? {
        switch data {
        case .a(let b) where b.count == 4:
            return try? SocketAddress(packedIPAddress: ByteBuffer(bytes: b), port: port)
        case .aaaa(let b) where b.count == 16:
            return try? SocketAddress(packedIPAddress: ByteBuffer(bytes: b), port: port)
        default:
            return nil
        }
    }
}

/// The question of a query (RFC 1035 §4.1.2), class IN.
public struct DNSQuestion: Hashable, Sendable {
    /// Lowercased, without the final dot.
    public var name: String
    public var type: DNSRecordType

    public init(name: String, type: DNSRecordType) {
        self.name = DNSName.normalize(name)
        self.type = type
    }
}

/// A parsed DNS message (RFC 1035 §4.1).
public struct DNSMessage: Hashable, Sendable {
    public var id: UInt16
    public var isResponse: Bool
    public var opcode: UInt8
    public var isAuthoritative: Bool
    /// TC: the answer did not fit (RFC 1035 §4.1.1); a client may ask again over TCP.
    public var isTruncated: Bool
    public var recursionDesired: Bool
    public var recursionAvailable: Bool
    public var responseCode: DNSResponseCode
    public var questions: [DNSQuestion]
    public var answers: [DNSResourceRecord]
    public var authority: [DNSResourceRecord]
    public var additional: [DNSResourceRecord]

    public init(id: UInt16, isResponse: Bool = false, opcode: UInt8 = 0, isAuthoritative: Bool = false,
                isTruncated: Bool = false, recursionDesired: Bool = true, recursionAvailable: Bool = false,
                responseCode: DNSResponseCode = .noError, questions: [DNSQuestion] = [],
                answers: [DNSResourceRecord] = [], authority: [DNSResourceRecord] = [],
                additional: [DNSResourceRecord] = []) {
        self.id = id
        self.isResponse = isResponse
        self.opcode = opcode
        self.isAuthoritative = isAuthoritative
        self.isTruncated = isTruncated
        self.recursionDesired = recursionDesired
        self.recursionAvailable = recursionAvailable
        self.responseCode = responseCode
        self.questions = questions
        self.answers = answers
        self.authority = authority
        self.additional = additional
    }
}

/// Domain name helpers.
public enum DNSName {
    /// Lowercased ASCII, without a trailing dot, "" for the root.
    public static func normalize(_ name: String) -> String {
        var n = name.lowercased()
        while n.hasSuffix(".") { n.removeLast() }
        return n
    }
}
