import NIOCore
import NIOEmbedded
import SIPCore
import Testing
@testable import SIPTransport

extension SIPStreamFrame: Equatable {
    public static func == (a: SIPStreamFrame, b: SIPStreamFrame) -> Bool {
        switch (a, b) {
        case (.message(let x), .message(let y)): return x == y
        case (.ping, .ping): return true
        case (.error(let e1, let s1, let r1, let f1), .error(let e2, let s2, let r2, let f2)): return e1 == e2 && s1 == s2 && (r1 == nil) == (r2 == nil) && f1 == f2
        default: return false
        }
    }
}

/// Feeds `bytes` to a fresh decoder in chunks of `chunk` bytes; returns every frame.
func decodeFrames(_ bytes: [UInt8], chunk: Int) throws -> [SIPStreamFrame] {
    let channel = EmbeddedChannel(handler: ByteToMessageHandler(SIPStreamDecoder()))
    var frames: [SIPStreamFrame] = []
    var i = 0
    while i < bytes.count {
        let end = min(i + chunk, bytes.count)
        try channel.writeInbound(channel.allocator.buffer(bytes: bytes[i..<end]))
        while let frame = try channel.readInbound(as: SIPStreamFrame.self) { frames.append(frame) }
        i = end
    }
    _ = try? channel.finish()
    return frames
}

@Suite("Stream framing (RFC 3261 §18.3, RFC 5626 §3.5.1)")
struct StreamDecoderTests {
    static let chunkSizes = [1, 2, 3, 7, 64, 1500]

    @Test("pipelined messages frame the same at any chunk size", arguments: chunkSizes)
    func pipelined(chunk: Int) throws {
        let a = Sample.options(via: "TCP 10.0.0.1:5060", callID: "a")
        let b = Sample.options(via: "TCP 10.0.0.1:5060", callID: "b", body: "hello\r\n\r\nworld")
        let c = Sample.options(via: "TCP 10.0.0.1:5060", callID: "c")
        let frames = try decodeFrames(a + b + c, chunk: chunk)
        let expected = try [a, b, c].map { SIPStreamFrame.message(try SIPParser.parseDatagram($0)) }
        #expect(frames == expected)
    }

    @Test("every fixture frames the same whole and split at every byte boundary", arguments: Fixtures.all)
    func fixtureChunking(name: String) throws {
        let bytes = try Fixtures.bytes(name)
        let whole = try decodeFrames(bytes, chunk: bytes.count)
        #expect(try decodeFrames(bytes, chunk: 1) == whole)
        for split in stride(from: 1, to: bytes.count, by: max(1, bytes.count / 97)) {
            let channel = EmbeddedChannel(handler: ByteToMessageHandler(SIPStreamDecoder()))
            try channel.writeInbound(channel.allocator.buffer(bytes: bytes[..<split]))
            try channel.writeInbound(channel.allocator.buffer(bytes: bytes[split...]))
            var frames: [SIPStreamFrame] = []
            while let frame = try channel.readInbound(as: SIPStreamFrame.self) { frames.append(frame) }
            _ = try? channel.finish()
            #expect(frames == whole, "split at \(split)")
        }
    }

    @Test("a fixture pipelined with a valid message behind it, at several chunk sizes", arguments: Fixtures.names("rfc4475"))
    func fixtureThenValid(name: String) throws {
        let bytes = try Fixtures.bytes(name)
        let next = Sample.options(via: "TCP 10.0.0.1:5060", callID: "after")
        let whole = try decodeFrames(bytes + next, chunk: bytes.count + next.count)
        for chunk in [1, 5, 100] {
            #expect(try decodeFrames(bytes + next, chunk: chunk) == whole, "chunk \(chunk)")
        }
        // After a fatal framing error nothing more is framed.
        if let fatal = whole.firstIndex(where: { if case .error(_, _, _, true) = $0 { return true } else { return false } }) {
            #expect(fatal == whole.count - 1)
        }
    }

    @Test("CRLFCRLF is a ping; a lone CRLF before a message is skipped", arguments: [1, 3, 1000])
    func keepalives(chunk: Int) throws {
        let msg = Sample.options(via: "TCP 10.0.0.1:5060", callID: "k")
        let parsed = try SIPParser.parseDatagram(msg)
        let crlf: [UInt8] = [13, 10]
        let frames = try decodeFrames(crlf + crlf + msg + crlf + msg + crlf + crlf + crlf + crlf, chunk: chunk)
        #expect(frames == [.ping, .message(parsed), .message(parsed), .ping, .ping])
    }

    @Test("a lone CRLF pong yields nothing")
    func pong() throws {
        #expect(try decodeFrames([13, 10], chunk: 1).isEmpty)
    }

    @Test("unrecoverable framing errors end the stream", arguments: ["rfc4475/ncl.dat", "rfc4475/mcl01.dat"])
    func fatalFraming(name: String) throws {
        let bytes = try Fixtures.bytes(name)
        let next = Sample.options(via: "TCP 10.0.0.1:5060", callID: "after")
        let frames = try decodeFrames(bytes + next, chunk: 9)
        guard case .error(let error, let salvaged, _, let fatal)? = frames.last else {
            Issue.record("expected a framing error, got \(frames)")
            return
        }
        #expect(fatal)
        #expect(error.status == 400)
        #expect(salvaged != nil, "enough of the request survives to answer 400")
        #expect(!frames.contains { if case .message(let m) = $0 { return m == (try? SIPParser.parseDatagram(next)) } else { return false } })
    }

    @Test("clerr (Content-Length past the end) waits for more bytes on a stream")
    func clerrWaits() throws {
        let frames = try decodeFrames(try Fixtures.bytes("rfc4475/clerr.dat"), chunk: 1)
        #expect(frames.isEmpty)
    }
}
