import NIOCore
import SIPCore
import Testing
@testable import SIPTransport

/// RFC 4475 §3.1.2: requests that do not parse even without their Content-Length still get
/// the status the parser gives them (505 for SIP/7.0, 400 for a CSeq method mismatch, a bad
/// display name or an overlarge CSeq), built from their Via, From, To, Call-ID and CSeq as
/// they came, and sent back where they came from; an ACK, a response or a request with
/// control characters in those headers gets nothing.
@Suite("Unparsable requests")
struct UnparsableRequestTests {
    static let answered: [(String, Int)] = [
        ("rfc4475/badvers.dat", 505), ("rfc4475/mismatch01.dat", 400), ("rfc4475/mismatch02.dat", 501),
        ("rfc4475/baddn.dat", 400), ("rfc4475/scalar02.dat", 400), ("rfc4475/quotbal.dat", 400),
        ("rfc4475/badinv01.dat", 400), ("rfc4475/lwsstart.dat", 400), ("rfc4475/trws.dat", 400),
        ("rfc4475/ltgtruri.dat", 400), ("rfc4475/escruri.dat", 400), ("rfc5118/ipv6-bad.dat", 400),
    ]

    static func callID(of bytes: [UInt8]) -> String? {
        let text = String(decoding: bytes, as: UTF8.self)
        for line in text.split(separator: "\r\n") {
            let lower = line.lowercased()
            if lower.hasPrefix("call-id:") || lower.hasPrefix("i:") || lower.hasPrefix("i :") {
                return line.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) }
            }
        }
        return nil
    }

    @Test("UDP: each is answered with the parser's status at the packet's source", arguments: answered)
    func udp(_ name: String, _ status: Int) async throws {
        let (server, inbox) = try await startLayer(["udp:127.0.0.1:0"])
        defer { Task { await server.shutdown() } }
        let client = try await RawDatagramClient.bind()
        defer { client.channel.close(promise: nil) }
        let bytes = try Fixtures.bytes(name)
        try await client.send(bytes, to: server.endpoint(.udp).address)
        let reply = try #require(await client.next(timeout: .seconds(5)), "\(name): no answer")
        #expect(reply.hasPrefix("SIP/2.0 \(status) "), "\(name): \(reply.prefix(60))")
        let callID = try #require(Self.callID(of: bytes))
        #expect(reply.contains(callID), "\(name): the answer names the request's Call-ID")
        #expect(reply.contains(";tag="), "\(name): a To tag (RFC 3261 §8.2.6.2)")
        #expect(await inbox.next(timeout: .milliseconds(100)) == nil, "\(name) went up to the transaction layer")
    }

    @Test("TCP: answered on the connection")
    func tcp() async throws {
        let (server, _) = try await startLayer(["tcp:127.0.0.1:0"])
        defer { Task { await server.shutdown() } }
        let client = try await RawStreamClient.connect(to: server.endpoint(.tcp).address)
        defer { client.channel.close(promise: nil) }
        try await client.send(try Fixtures.bytes("rfc4475/badvers.dat"))
        let reply = await client.read(until: { $0.contains("\r\n\r\n") }, timeout: .seconds(5))
        #expect(reply.hasPrefix("SIP/2.0 505 "), "\(reply.prefix(80))")
        #expect(reply.contains("badvers.31417@c.example.com"))
    }

    static func badVersion(method: String = "OPTIONS", cseqMethod: String = "OPTIONS", via: String = "SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK-x") -> [UInt8] {
        Array(("\(method) sip:bob@example.com SIP/7.0\r\nVia: \(via)\r\nMax-Forwards: 70\r\n"
            + "From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: bv-\(method)-\(via.count)\r\n"
            + "CSeq: 1 \(cseqMethod)\r\nContent-Length: 0\r\n\r\n").utf8)
    }

    @Test("UDP: an ACK, a response, control characters or a huge Via get no answer")
    func unanswerable() async throws {
        let (server, _) = try await startLayer(["udp:127.0.0.1:0"])
        defer { Task { await server.shutdown() } }
        let client = try await RawDatagramClient.bind()
        defer { client.channel.close(promise: nil) }
        let address = server.endpoint(.udp).address
        for bytes in [
            Self.badVersion(method: "ACK", cseqMethod: "ACK"),
            Self.badVersion(method: "INVITE", cseqMethod: "ACK"),
            Self.badVersion(via: "SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK-x\u{1B}[2J"),
            Self.badVersion(via: "SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK-" + String(repeating: "a", count: 2000)),
            Array("SIP/7.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK-r\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: r\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n".utf8),
        ] {
            try await client.send(bytes, to: address)
        }
        // The control: the same request, answerable, is answered (so silence above is not a dead server).
        try await client.send(Self.badVersion(), to: address)
        let reply = try #require(await client.next(timeout: .seconds(5)))
        #expect(reply.hasPrefix("SIP/2.0 505 "), "\(reply.prefix(60))")
        #expect(reply.contains("Call-ID: bv-OPTIONS-"))
        #expect(await client.next(timeout: .milliseconds(300)) == nil)
    }

    @Test("the raw answer copies the five headers, long or compact, and folds continuation lines")
    func rawAnswerText() throws {
        let text = "NEWMETHOD sip:b@example.com SIP/7.0\r\nv: SIP/2.0/UDP a.example.com;branch=z9hG4bK-1\r\n"
            + "Via: SIP/2.0/TCP b.example.com\r\n ;branch=z9hG4bK-2\r\nf: \"A, B\" <sip:a@example.com>;tag=9\r\n"
            + "t: sip:b@example.com\r\ni: raw-1\r\nCSeq: 7 NEWMETHOD\r\nX-Other: dropped\r\n\r\n"
        let answer = try #require(Array(text.utf8).withUnsafeBytes { SIPSalvage.rawAnswer(status: 505, fromHeaderSection: $0, limits: .default) })
        let lines = String(decoding: answer, as: UTF8.self).components(separatedBy: "\r\n")
        #expect(lines[0] == "SIP/2.0 505 Version Not Supported")
        #expect(lines[1] == "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK-1")
        #expect(lines[2] == "Via: SIP/2.0/TCP b.example.com ;branch=z9hG4bK-2")
        #expect(lines[3] == "From: \"A, B\" <sip:a@example.com>;tag=9")
        #expect(lines[4].hasPrefix("To: sip:b@example.com;tag="))
        #expect(lines[5] == "Call-ID: raw-1")
        #expect(lines[6] == "CSeq: 7 NEWMETHOD")
        #expect(lines[7] == "Content-Length: 0")
        #expect(!lines.contains { $0.hasPrefix("X-Other") })
        // Without a Call-ID there is nothing to answer.
        let missing = text.replacingOccurrences(of: "i: raw-1\r\n", with: "")
        #expect(Array(missing.utf8).withUnsafeBytes { SIPSalvage.rawAnswer(status: 505, fromHeaderSection: $0, limits: .default) } == nil)
    }
}
