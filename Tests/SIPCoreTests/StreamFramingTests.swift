import Testing
@testable import SIPCore

@Suite("Stream framing (RFC 3261 §18.3)")
struct StreamFramingTests {
    static let two: [UInt8] = {
        let a = "MESSAGE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.com>\r\nFrom: <sip:alice@example.com>;tag=1\r\nCall-ID: c1\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
        let b = "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nTo: <sip:bob@example.com>;tag=2\r\nFrom: <sip:alice@example.com>;tag=1\r\nCall-ID: c1\r\nCSeq: 1 MESSAGE\r\nl: 0\r\n\r\n"
        return Array((a + b).utf8)
    }()

    /// Feeds the bytes in chunks of `size`, framing after each, like a transport would.
    @Test(arguments: [1, 2, 7, 64, 1000])
    func chunked(_ size: Int) throws {
        var buffer: [UInt8] = []
        var messages: [SIPMessage] = []
        var offset = 0
        while offset < Self.two.count {
            buffer += Self.two[offset..<min(offset + size, Self.two.count)]
            offset += size
            while true {
                let frame = buffer.withUnsafeBytes { SIPParser.frameStream($0) }
                guard case .message(let m, let consumed) = frame else {
                    guard case .needMoreBytes = frame else { Issue.record("unexpected \(frame)"); return }
                    break
                }
                messages.append(m)
                buffer.removeFirst(consumed)
            }
        }
        #expect(buffer.isEmpty)
        #expect(messages.count == 2)
        #expect(messages.first?.body == Array("hello".utf8))
        #expect(messages.last?.response?.statusCode == 200)
    }

    @Test func malformedButFramed() {
        let bad = Array("OPTIONS sip:a@b SIP/2.0\r\nCSeq: x\r\nContent-Length: 2\r\n\r\nabNEXT".utf8)
        let frame = bad.withUnsafeBytes { SIPParser.frameStream($0) }
        guard case .error(let e, let consumed) = frame else { Issue.record("expected error"); return }
        #expect(e.status == 400)
        #expect(consumed == bad.count - 4)
    }

    @Test func unrecoverable() {
        for text in ["OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -5\r\n\r\n",
                     "OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nab"] {
            let frame = Array(text.utf8).withUnsafeBytes { SIPParser.frameStream($0) }
            guard case .error(let e, let consumed) = frame else { Issue.record("expected error for \(text)"); continue }
            #expect(e.status == 400)
            #expect(consumed == nil)
        }
        let limits = SIPParseLimits(maxMessageSize: 100)
        let huge = Array(("OPTIONS sip:a@b SIP/2.0\r\nX: " + String(repeating: "y", count: 200)).utf8)
        let frame = huge.withUnsafeBytes { SIPParser.frameStream($0, limits: limits) }
        guard case .error(let e, nil) = frame else { Issue.record("expected unrecoverable error"); return }
        #expect(e.status == 413)
    }

    @Test func waitsForBody() {
        let partial = Array("OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 10\r\n\r\nabc".utf8)
        guard case .needMoreBytes = partial.withUnsafeBytes({ SIPParser.frameStream($0) }) else {
            Issue.record("expected needMoreBytes")
            return
        }
    }
}
