import NIOCore
import Testing
@testable import SIPTransport

@Suite("DNS wire format (RFC 1035 §4, RFC 2782, RFC 3403)")
struct DNSWireTests {
    @Test("a query: id, RD, one question, EDNS0 OPT")
    func buildsQuery() throws {
        let bytes = try DNSWire.query(id: 0xBEEF, question: DNSQuestion(name: "Example.COM.", type: .srv))
        #expect(bytes == [0xBE, 0xEF, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1,
                          7] + Array("example".utf8) + [3] + Array("com".utf8) + [0, 0, 33, 0, 1,
                          0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0])
        let parsed = try DNSWire.parse(bytes)
        #expect(parsed.id == 0xBEEF && parsed.recursionDesired && !parsed.isResponse)
        #expect(parsed.questions == [DNSQuestion(name: "example.com", type: .srv)])
    }

    @Test("names that cannot be asked are refused", arguments: [
        "a..b", String(repeating: "x", count: 64) + ".com",
        Array(repeating: String(repeating: "y", count: 60), count: 5).joined(separator: "."),
    ])
    func badNames(name: String) {
        #expect(throws: SIPTransportError.self) { try DNSWire.query(id: 1, question: DNSQuestion(name: name, type: .a)) }
    }

    /// `_sip._udp.example.com SRV` answered with two compressed SRV records and an A.
    static func srvResponse() -> [UInt8] {
        var p = PacketBuilder()
        p.header(an: 2, ar: 1)
        p.question("_sip._udp.example.com", .srv)  // name at 12; "example.com" at 12+10=22
        p.record("", pointer: 12, .srv, ttl: 120) { r in
            r.u16(10); r.u16(60); r.u16(5060); r.name("sip1", pointer: 22)
        }
        p.record("", pointer: 12, .srv, ttl: 90) { r in
            r.u16(20); r.u16(0); r.u16(5080); r.name("sip2", pointer: 22)
        }
        p.record("sip1", pointer: 22, .a, ttl: 30) { r in r.bytes += [192, 0, 2, 1] }
        return p.bytes
    }

    @Test("SRV records with compressed names")
    func parsesSRV() throws {
        let message = try DNSWire.parse(Self.srvResponse())
        #expect(message.isResponse && message.responseCode == .noError && message.id == 0x1234)
        #expect(message.answers.map(\.data) == [
            .srv(DNSSRVRecord(priority: 10, weight: 60, port: 5060, target: "sip1.example.com")),
            .srv(DNSSRVRecord(priority: 20, weight: 0, port: 5080, target: "sip2.example.com")),
        ])
        #expect(message.answers.allSatisfy { $0.name == "_sip._udp.example.com" })
        #expect(message.additional.first?.socketAddress(port: 5060) == (try SocketAddress(ipAddress: "192.0.2.1", port: 5060)))
        let answer = DNSAnswer(message: message, question: DNSQuestion(name: "_SIP._udp.example.com.", type: .srv), negativeTTL: 30)
        #expect(answer.records.count == 2 && answer.ttl == 90)
    }

    @Test("NAPTR records (RFC 3403 §4.1)")
    func parsesNAPTR() throws {
        var p = PacketBuilder()
        p.header(an: 1)
        p.question("example.com", .naptr)
        p.record("", pointer: 12, .naptr) { r in
            r.u16(10); r.u16(50); r.characterString("S"); r.characterString("SIPS+D2T"); r.characterString("")
            r.name("_sips._tcp", pointer: 12)
        }
        let message = try DNSWire.parse(p.bytes)
        #expect(message.answers.first?.data == .naptr(DNSNAPTRRecord(
            order: 10, preference: 50, flags: "S", service: "SIPS+D2T", regexp: "", replacement: "_sips._tcp.example.com")))
    }

    @Test("a CNAME chain inside the answer is followed; its TTLs count")
    func followsCNAME() throws {
        var p = PacketBuilder()
        p.header(an: 3)
        p.question("www.example.com", .aaaa)
        p.record("", pointer: 12, .cname, ttl: 50) { r in r.name("edge.example.net") }
        p.record("edge.example.net", .cname, ttl: 500) { r in r.name("host.example.net") }
        p.record("host.example.net", .aaaa, ttl: 400) { r in r.bytes += [0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 11) + [1] }
        let answer = DNSAnswer(message: try DNSWire.parse(p.bytes), question: DNSQuestion(name: "www.example.com", type: .aaaa), negativeTTL: 30)
        #expect(answer.canonicalName == "host.example.net" && answer.ttl == 50)
        #expect(answer.records.first?.socketAddress(port: 5060) == (try SocketAddress(ipAddress: "2001:db8::1", port: 5060)))
    }

    @Test("a CNAME loop ends in a negative answer, not a hang")
    func cnameLoop() throws {
        var p = PacketBuilder()
        p.header(an: 2)
        p.question("a.example", .a)
        p.record("a.example", .cname) { r in r.name("b.example") }
        p.record("b.example", .cname) { r in r.name("a.example") }
        let answer = DNSAnswer(message: try DNSWire.parse(p.bytes), question: DNSQuestion(name: "a.example", type: .a), negativeTTL: 30)
        #expect(answer.isNegative)
    }

    @Test("NXDOMAIN: negative, TTL from the SOA minimum capped by the resolver's (RFC 2308 §5)")
    func negative() throws {
        var p = PacketBuilder()
        p.header(flags: 0x8183, ns: 1)
        p.question("nope.example", .a)
        p.record("example", .soa, ttl: 3600) { r in
            r.name("ns.example"); r.name("admin.example"); for v: UInt32 in [1, 2, 3, 4] { r.u32(v) }; r.u32(5)
        }
        let message = try DNSWire.parse(p.bytes)
        #expect(message.responseCode == .nameError)
        let answer = DNSAnswer(message: message, question: DNSQuestion(name: "nope.example", type: .a), negativeTTL: 30)
        #expect(answer.isNegative && answer.ttl == 5)
        #expect(DNSAnswer(message: message, question: answer.question, negativeTTL: 2).ttl == 2)
    }

    @Test("a TTL with the top bit set reads as 0 (RFC 2181 §8)")
    func ttlTopBit() throws {
        var p = PacketBuilder()
        p.header(an: 1)
        p.question("x.example", .a)
        p.record("x.example", .a, ttl: 0x8000_0001) { r in r.bytes += [10, 0, 0, 1] }
        #expect(try DNSWire.parse(p.bytes).answers.first?.ttl == 0)
    }

    @Test("every truncation of a valid answer is rejected")
    func truncated() {
        let full = Self.srvResponse()
        for length in 0..<full.count {
            #expect(throws: SIPTransportError.self) { try DNSWire.parse(Array(full.prefix(length))) }
        }
    }

    @Test("compression pointer loops and forward pointers are rejected")
    func pointerLoops() {
        var selfLoop = PacketBuilder()
        selfLoop.header()
        selfLoop.u16(0xC00C)  // the question's name points at itself
        selfLoop.u16(1); selfLoop.u16(1)
        var pingPong = PacketBuilder()
        pingPong.header(an: 1)
        pingPong.name("a", pointer: 20)  // 12: "a" -> 20, which points back to 12
        pingPong.u16(1); pingPong.u16(1)
        pingPong.u16(0xC00C); pingPong.u16(1); pingPong.u16(1); pingPong.u32(0); pingPong.u16(0)
        var forward = PacketBuilder()
        forward.header()
        forward.u16(0xC010)
        forward.name("a")
        for packet in [selfLoop.bytes, pingPong.bytes, forward.bytes] {
            #expect(throws: SIPTransportError.self) { try DNSWire.parse(packet) }
        }
    }

    @Test("over-long names, bad lengths and huge counts are rejected")
    func malformed() {
        var long = PacketBuilder()
        long.header()
        for _ in 0..<5 { long.bytes.append(63); long.bytes += Array(repeating: UInt8(ascii: "a"), count: 63) }
        long.bytes.append(0); long.u16(1); long.u16(1)
        var badA = PacketBuilder()
        badA.header(an: 1)
        badA.question("x.example", .a)
        badA.record("x.example", .a) { r in r.bytes += [1, 2, 3, 4, 5] }
        var shortSRV = PacketBuilder()
        shortSRV.header(an: 1)
        shortSRV.question("x.example", .srv)
        shortSRV.record("x.example", .srv) { r in r.u16(1); r.u16(1); r.u16(1); r.name("t"); r.bytes.append(0) }
        var counts = PacketBuilder()
        counts.header(qd: 0, an: 0xFFFF)
        var labelType = PacketBuilder()
        labelType.header()
        labelType.bytes += [0x41, 0]
        for packet in [long.bytes, badA.bytes, shortSRV.bytes, counts.bytes, labelType.bytes] {
            #expect(throws: SIPTransportError.self) { try DNSWire.parse(packet) }
        }
    }

    @Test("random and mutated packets never crash the parser")
    func fuzz() {
        let random = SeededRandom(seed: 3263)
        let valid = Self.srvResponse()
        var parsedSome = 0
        for round in 0..<20_000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = valid
                for _ in 0..<(1 + Int(random.next() % 4)) {
                    bytes[Int(random.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: random.next())
                }
            } else {
                bytes = (0..<Int(random.next() % 96)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            }
            if (try? DNSWire.parse(bytes)) != nil { parsedSome += 1 }
        }
        #expect(parsedSome > 0)  // some mutations stay valid; none may trap
    }
}
