import Foundation
import NIOConcurrencyHelpers
import NIOCore
@testable import SIPTransport

/// Builds DNS packets byte by byte for the codec tests.
struct PacketBuilder {
    var bytes: [UInt8] = []

    mutating func u16(_ v: UInt16) { bytes += [UInt8(v >> 8), UInt8(v & 0xFF)] }
    mutating func u32(_ v: UInt32) { u16(UInt16(v >> 16)); u16(UInt16(v & 0xFFFF)) }

    /// A header: response, RD+RA, the given rcode and counts.
    mutating func header(id: UInt16 = 0x1234, flags: UInt16 = 0x8180, qd: UInt16 = 1, an: UInt16 = 0,
                         ns: UInt16 = 0, ar: UInt16 = 0) {
        u16(id); u16(flags); u16(qd); u16(an); u16(ns); u16(ar)
    }

    /// Labels of `name`, then a pointer to `pointer` or the root.
    mutating func name(_ name: String, pointer: Int? = nil) {
        for label in name.split(separator: ".") where !label.isEmpty {
            bytes.append(UInt8(label.utf8.count))
            bytes += Array(label.utf8)
        }
        if let pointer { u16(0xC000 | UInt16(pointer)) } else { bytes.append(0) }
    }

    mutating func question(_ name: String, _ type: DNSRecordType) {
        self.name(name); u16(type.rawValue); u16(1)
    }

    /// A record's fixed part, then `rdata` built by the closure with RDLENGTH patched in.
    mutating func record(_ name: String, pointer: Int? = nil, _ type: DNSRecordType, ttl: UInt32 = 300,
                         rdata: (inout PacketBuilder) -> Void) {
        self.name(name, pointer: pointer)
        u16(type.rawValue); u16(1); u32(ttl)
        let lengthAt = bytes.count
        u16(0)
        let start = bytes.count
        rdata(&self)
        let length = bytes.count - start
        bytes[lengthAt] = UInt8(length >> 8)
        bytes[lengthAt + 1] = UInt8(length & 0xFF)
    }

    mutating func characterString(_ s: String) {
        bytes.append(UInt8(s.utf8.count)); bytes += Array(s.utf8)
    }
}

/// SplitMix64: a seeded, deterministic random source for SRV ordering.
final class SeededRandom: Sendable {
    private let state: NIOLockedValueBox<UInt64>
    init(seed: UInt64) { state = NIOLockedValueBox(seed) }

    func next() -> UInt64 {
        state.withLockedValue { s in
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    var source: SRVOrdering.RandomSource { { [self] upper in Int(next() % UInt64(upper)) } }
}

/// A DNS table for the locator's unit tests: answers from `records`, negative otherwise,
/// and `.dnsTimeout` for the names in `failing`. Records every question asked.
final class FakeDNS: DNSQuerying {
    let loop: any EventLoop
    private let records: [DNSQuestion: [DNSResourceRecord]]
    private let failing: Set<String>
    private let asked = NIOLockedValueBox<[DNSQuestion]>([])

    init(loop: any EventLoop, records: [DNSResourceRecord], failing: Set<String> = []) {
        self.loop = loop
        self.records = Dictionary(grouping: records) { DNSQuestion(name: $0.name, type: $0.type) }
        self.failing = failing
    }

    var questions: [DNSQuestion] { asked.withLockedValue { $0 } }

    func query(_ name: String, type: DNSRecordType, on callerLoop: (any EventLoop)?) -> EventLoopFuture<DNSAnswer> {
        let question = DNSQuestion(name: name, type: type)
        asked.withLockedValue { $0.append(question) }
        let target = callerLoop ?? loop
        if failing.contains(question.name) {
            return target.makeFailedFuture(SIPTransportError(.dnsTimeout, "no answer for \(name)"))
        }
        let found = records[question] ?? []
        return target.makeSucceededFuture(DNSAnswer(question: question, responseCode: found.isEmpty ? .nameError : .noError,
                                                    records: found, canonicalName: question.name, ttl: 60))
    }
}

extension DNSResourceRecord {
    static func a(_ name: String, _ ip: String) -> DNSResourceRecord {
        DNSResourceRecord(name: name, type: .a, ttl: 60, data: .a(ip.split(separator: ".").map { UInt8($0)! }))
    }

    static func aaaa(_ name: String, _ ip: String) -> DNSResourceRecord {
        let packed = try! SocketAddress(ipAddress: ip, port: 0)
        guard case .v6(let v6) = packed else { fatalError() }
        let bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
        return DNSResourceRecord(name: name, type: .aaaa, ttl: 60, data: .aaaa(bytes))
    }

    static func srv(_ name: String, _ priority: UInt16, _ weight: UInt16, _ port: UInt16, _ target: String) -> DNSResourceRecord {
        DNSResourceRecord(name: name, type: .srv, ttl: 60,
                          data: .srv(DNSSRVRecord(priority: priority, weight: weight, port: port, target: target)))
    }

    static func naptr(_ name: String, _ order: UInt16, _ preference: UInt16, _ service: String, _ replacement: String,
                      flags: String = "s", regexp: String = "") -> DNSResourceRecord {
        DNSResourceRecord(name: name, type: .naptr, ttl: 60,
                          data: .naptr(DNSNAPTRRecord(order: order, preference: preference, flags: flags,
                                                      service: service, regexp: regexp, replacement: replacement)))
    }
}
