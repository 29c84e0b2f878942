/// The answer to one question, after following the CNAME chain inside the response
/// (RFC 1034 §3.6.2): the records of the type asked for, owned by the canonical name.
/// An empty `records` is a negative answer (NXDOMAIN, or the name has no such records).
public struct DNSAnswer: Hashable, Sendable {
    public var question: DNSQuestion
    public var responseCode: DNSResponseCode
    /// The records of `question.type` (owned by `canonicalName`), in the order received.
    public var records: [DNSResourceRecord]
    /// The name at the end of the CNAME chain (the question's name without one).
    public var canonicalName: String
    /// The additional section (RFC 2782 suggests servers put the SRV targets' addresses here).
    public var additional: [DNSResourceRecord]
    /// Seconds this answer may be cached: the smallest TTL of the records and CNAMEs used, or
    /// for a negative answer the SOA minimum (RFC 2308 §5) capped by the resolver.
    public var ttl: UInt32

    public init(question: DNSQuestion, responseCode: DNSResponseCode, records: [DNSResourceRecord],
                canonicalName: String, additional: [DNSResourceRecord] = [], ttl: UInt32) {
        self.question = question
        self.responseCode = responseCode
        self.records = records
        self.canonicalName = canonicalName
        self.additional = additional
        self.ttl = ttl
    }

    /// No records: the name does not exist or has none of this type.
    public var isNegative: Bool { records.isEmpty }

    /// At most this many CNAMEs are followed inside one response.
    public static let maxCNAMEChain = 8

    /// The answer `message` gives to `question`: follows CNAMEs inside the answer section
    /// (at most ``maxCNAMEChain``), keeps the records of the asked type owned by the final
    /// name. `negativeTTL` caps the TTL of a negative answer (the SOA minimum when the
    /// authority section has one, else `negativeTTL` itself).
    public init(message: DNSMessage, question: DNSQuestion, negativeTTL: UInt32) {
        var name = question.name
        var ttl = UInt32.max
        var seen: Set<String> = [name]
        if question.type != .cname {
            for _ in 0..<Self.maxCNAMEChain {
                guard let alias = message.answers.first(where: { $0.name == name && $0.type == .cname }),
                      case .cname(let target) = alias.data, !seen.contains(target) else { break }
                ttl = min(ttl, alias.ttl)
                name = target
                seen.insert(target)
            }
        }
        let records = message.answers.filter { $0.name == name && $0.type == question.type }
        if records.isEmpty {
            var negative = negativeTTL
            for case let soa in message.authority where soa.type == .soa {
                if case .soa(let minimum) = soa.data { negative = min(negative, minimum, soa.ttl) }
            }
            ttl = min(ttl, negative)
        } else {
            for record in records { ttl = min(ttl, record.ttl) }
        }
        self.init(question: question, responseCode: message.responseCode, records: records,
                  canonicalName: name, additional: message.additional, ttl: ttl)
    }
}
