import Testing
@testable import SIPCore

/// SplitMix64: a small seeded generator so every run checks the same messages.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random but grammatical messages (RFC 3261 §25) for the round-trip property.
struct MessageGenerator {
    var rng: SeededGenerator
    init(seed: UInt64) { rng = SeededGenerator(seed: seed) }

    mutating func int(_ r: ClosedRange<Int>) -> Int { Int.random(in: r, using: &rng) }
    mutating func bool() -> Bool { Bool.random(using: &rng) }
    mutating func pick<T>(_ xs: [T]) -> T { xs[int(0...(xs.count - 1))] }
    mutating func string(_ alphabet: [Character], _ n: ClosedRange<Int>) -> String {
        String((0..<int(n)).map { _ in pick(alphabet) })
    }

    static let alnum = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    static let tokenChars = alnum + Array("-.!%*_+`'~")
    static let userChars = alnum + Array("-_.!~*'()&=+$,;?/")
    static let paramChars = alnum + Array("-_.!~*'()[]/:&+$")

    mutating func token() -> String { string(Self.tokenChars, 1...10) }
    mutating func escaped(_ chars: [Character]) -> String {
        var s = string(chars, 1...8)
        if bool() { s += "%" + pick(["41", "2F", "25", "00", "3a", "7E", "C3"]) }
        return s
    }
    mutating func host() -> String {
        switch int(0...2) {
        case 0: return (0..<int(1...4)).map { _ in string(Self.alnum, 1...8) }.joined(separator: ".")
        case 1: return (0..<4).map { _ in String(int(0...255)) }.joined(separator: ".")
        default: return "[2001:db8::" + String(int(1...0xffff), radix: 16) + "]"
        }
    }
    mutating func parameters(_ chars: [Character], max: Int) -> [SIPParameter] {
        (0..<int(0...max)).map { _ in SIPParameter(name: string(chars, 1...6), value: bool() ? string(chars, 1...8) : nil) }
    }
    mutating func sipURI() -> SIPURI {
        SIPURI(secure: bool(), user: bool() ? escaped(Self.userChars) : nil, password: nil, host: host(),
               port: bool() ? int(1...65535) : nil, parameters: parameters(Self.paramChars, max: 3),
               headers: bool() ? [] : [SIPParameter(name: string(Self.alnum, 1...5), value: escaped(Self.alnum))])
    }
    mutating func uri(requestURI: Bool = false) -> URI {
        switch int(0...5) {
        case 0: return .tel(TelURI(number: "+" + string(Array("0123456789-"), 1...12), parameters: parameters(Self.alnum, max: 2)))
        case 1: return .other(scheme: "urn", text: "urn:uuid:" + string(Array("0123456789abcdef-"), 8...36))
        default:
            var u = sipURI()
            if requestURI { u.headers = [] }
            return .sip(u)
        }
    }
    mutating func displayName() -> String? {
        switch int(0...3) {
        case 0: return nil
        case 1: return string(Self.alnum + [" "], 1...12).trimmingCharacters(in: " ")
        default:
            let odd: [Character] = ["\"", "\\", ",", ";", "<", ">", "é", "日", "\u{0}", "\u{7}", "\u{7F}", "\t", " ", "@", ":"]
            return string(Self.alnum + odd, 0...16)
        }
    }
    mutating func nameAddr(tag: Bool) -> NameAddr {
        var na = NameAddr(displayName: displayName(), uri: uri(), parameters: [])
        na.parameters = (0..<int(0...2)).map { _ in SIPParameter(name: token(), value: bool() ? token() : "\"" + string(Self.alnum + [" ", ",", ";"], 0...8) + "\"") }
        if tag { na.tag = token() }
        return na
    }
    mutating func via() -> Via {
        var v = Via(transport: pick(["UDP", "TCP", "TLS", "SCTP", "WS"]), host: host(), port: bool() ? int(1...65535) : nil)
        v.branch = "z9hG4bK" + token()
        if bool() { v.setParameter("rport", nil, flag: true) }
        if bool() { v.received = host() }
        return v
    }
    mutating func headers(method: SIPMethod) -> SIPHeaders {
        var h = SIPHeaders()
        let vias = (0..<int(1...3)).map { _ in via().description }
        if bool() { h.append("Via", vias.joined(separator: ", ")) } else { for v in vias { h.append("Via", v) } }
        h.append("Max-Forwards", String(int(0...255)))
        h.append("From", nameAddr(tag: true).description)
        h.append("To", nameAddr(tag: bool()).description)
        h.append("Call-ID", string(Self.tokenChars, 1...20) + (bool() ? "@" + host() : ""))
        h.append("CSeq", "\(UInt32.random(in: 0...UInt32.max, using: &rng)) \(method.rawValue)")
        for _ in 0..<int(0...3) {
            let c = (0..<int(1...2)).map { _ in nameAddr(tag: false).description }
            h.append("Contact", c.joined(separator: ", "))
        }
        for _ in 0..<int(0...4) {
            let printable = Self.alnum + Array(" ,;:\"<>@=\t/?\\é")
            h.append("X-" + token(), string(printable, 0...30).trimmingCharacters(in: " \t"))
        }
        return h
    }
    mutating func body() -> [UInt8] {
        bool() ? [] : (0..<int(0...200)).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }
    mutating func method() -> SIPMethod {
        bool() ? pick([.invite, .ack, .bye, .cancel, .register, .options, .message, .subscribe, .notify, .publish, .info,
                       .prack, .update, .refer]) : SIPMethod(token().uppercased())
    }
    mutating func message() -> SIPMessage {
        if bool() {
            let m = method()
            return .request(SIPRequest(method: m, uri: uri(requestURI: true), headers: headers(method: m), body: body()))
        }
        let code = int(100...699)
        let reason = string(Self.alnum + [" ", "é", "!"], 0...20)
        return .response(SIPResponse(statusCode: code, reasonPhrase: reason, headers: headers(method: method()), body: body()))
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}

@Suite("Round trip: parse(serialize(m)) == m")
struct RoundTripTests {
    @Test(arguments: 0..<20)
    func generatedMessages(_ batch: Int) throws {
        var gen = MessageGenerator(seed: 0x5157_0000 + UInt64(batch))
        for _ in 0..<50 {
            let m = gen.message()
            let bytes = m.serialized()
            let parsed: SIPMessage
            do {
                parsed = try SIPParser.parseDatagram(bytes)
            } catch {
                Issue.record("\(error): \(String(decoding: bytes, as: UTF8.self))")
                continue
            }
            #expect(parsed == m, "\(String(decoding: bytes, as: UTF8.self))")
            #expect(parsed.serialized() == bytes)
            // Stream framing of the same bytes gives the same message.
            let frame = bytes.withUnsafeBytes { SIPParser.frameStream($0) }
            guard case .message(let s, let consumed) = frame else { Issue.record("stream: \(frame)"); continue }
            #expect(s == m)
            #expect(consumed == bytes.count)
        }
    }

    @Test(arguments: 0..<4)
    func generatedURIsAndNameAddrs(_ batch: Int) throws {
        var gen = MessageGenerator(seed: 0xABCD_0000 + UInt64(batch))
        for _ in 0..<200 {
            let u = gen.uri()
            #expect(URI(u.description) == u, "\(u)")
            if case .sip(let s) = u { #expect(s.isEquivalent(to: s)) }
            let na = gen.nameAddr(tag: gen.bool())
            #expect(try NameAddr.parse(na.description) == na, "\(na)")
            let v = gen.via()
            #expect(Via(v.description) == v, "\(v)")
        }
    }

    @Test(arguments: Fixtures.rows.map(\.file))
    func fixturesReserializeStably(_ file: String) throws {
        guard let m = try? SIPParser.parseDatagram(Fixtures.bytes(file)) else { return }  // rejected rows: see ConformanceTests
        let once = m.serialized()
        let again = try SIPParser.parseDatagram(once)
        #expect(again == m)
        #expect(again.serialized() == once)
    }
}

@Suite("Fuzzer findings")
struct FuzzFindingTests {
    @Test func findingsArePresent() { #expect(!Fixtures.fuzzFindings.isEmpty) }

    @Test(arguments: Fixtures.fuzzFindings)
    func rejectedOrRoundTrips(_ file: String) throws {
        let bytes = Fixtures.bytes(file)
        guard let m = try? SIPParser.parseDatagram(bytes) else { return }
        let wire = m.serialized()
        let again = try SIPParser.parseDatagram(wire)
        #expect(again == m)
        #expect(again.serialized() == wire)
    }
}
