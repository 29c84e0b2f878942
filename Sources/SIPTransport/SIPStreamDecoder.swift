import NIOCore
import SIPCore

/// What the stream decoder yields: a message, an RFC 5626 keepalive ping, or a framing error.
enum SIPStreamFrame {
    case message(SIPMessage)
    /// A double-CRLF keepalive ping (RFC 5626 §3.5.1): answer with a single CRLF pong.
    case ping
    /// A message that could not be framed or parsed. `salvaged` is the request rebuilt from its
    /// header section when that is possible, to answer `error.status` to it (RFC 3261 §21.4.1).
    /// Failing that, `rawAnswer` is the answer built from its five headers as they came
    /// (``SIPSalvage/rawAnswer(status:fromHeaderSection:limits:)``).
    /// `fatal`: the stream cannot be framed past it, so the connection must close.
    case error(SIPParseError, salvaged: SIPRequest?, rawAnswer: [UInt8]?, fatal: Bool)
}

/// Whether one connection's decoder holds the start of a message (bytes past any keepalive
/// CRLFs) that is not complete yet: its handler times the message (slow-header defence).
/// Owned by the connection's event loop.
final class SIPStreamProgress {
    var messageStarted = false
}

/// RFC 3261 §18.3 stream framing as a single-step decoder over `SIPParser.frameStream`, with
/// RFC 5626 §3.5.1 keepalives: CRLFCRLF is a ping, a lone CRLF (a pong, or the stray CRLF of
/// RFC 3261 §7.5) before a start line is skipped. After a fatal framing error every further
/// byte of the stream is discarded, so nothing after it is ever misread as a message.
struct SIPStreamDecoder: NIOSingleStepByteToMessageDecoder {
    typealias InboundOut = SIPStreamFrame

    let limits: SIPParseLimits
    private(set) var failed = false
    let progress: SIPStreamProgress?
    /// While a message's header section is incomplete: how many bytes of it have been searched
    /// for its end, so a header section trickled in small reads is scanned once, not once per
    /// read (a slow peer cannot make the framing cost quadratic).
    private var headerScanned = 0

    init(limits: SIPParseLimits = .default, progress: SIPStreamProgress? = nil) {
        self.limits = limits
        self.progress = progress
    }

    private static let cr: UInt8 = 13
    private static let lf: UInt8 = 10

    mutating func decode(buffer: inout ByteBuffer) throws -> SIPStreamFrame? {
        let frame = decodeFrame(buffer: &buffer)
        if let progress {
            // Waiting on anything but keepalive CRLFs is waiting on a started message.
            let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self)
            progress.messageStarted = frame == nil && first != nil && first != Self.cr && first != Self.lf
        }
        return frame
    }

    private mutating func decodeFrame(buffer: inout ByteBuffer) -> SIPStreamFrame? {
        if failed {
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return nil
        }
        // Keepalives and stray CRLFs before a start line.
        while let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self), first == Self.cr || first == Self.lf {
            let n = buffer.readableBytes
            let at = buffer.readerIndex
            if first == Self.lf {  // a bare LF: tolerated like a CRLF
                buffer.moveReaderIndex(forwardBy: 1)
                continue
            }
            guard n >= 2 else { return nil }
            guard buffer.getInteger(at: at + 1, as: UInt8.self) == Self.lf else { break }  // "\r" then junk: let the parser judge
            guard n >= 3 else { return nil }  // "\r\n": a pong, or the first half of a ping
            if buffer.getInteger(at: at + 2, as: UInt8.self) == Self.cr {
                guard n >= 4 else { return nil }
                if buffer.getInteger(at: at + 3, as: UInt8.self) == Self.lf {
                    buffer.moveReaderIndex(forwardBy: 4)
                    return .ping
                }
            }
            buffer.moveReaderIndex(forwardBy: 2)  // a lone CRLF: pong, ignored
        }
        let readable = buffer.readableBytes
        guard readable > 0 else {
            headerScanned = 0
            return nil
        }
        let limits = self.limits
        if headerScanned > 0, readable <= limits.maxMessageSize {
            let from = headerScanned
            guard buffer.withUnsafeReadableBytes({ Self.hasHeaderEnd($0, from: from) }) else {
                headerScanned = readable
                return nil
            }
        }
        let frame = buffer.withUnsafeReadableBytes { SIPParser.frameStream($0, limits: limits) }
        if case .needMoreBytes = frame {
            headerScanned = buffer.withUnsafeReadableBytes { Self.hasHeaderEnd($0, from: 0) } ? 0 : readable
            return nil
        }
        headerScanned = 0
        switch frame {
        case .needMoreBytes:
            return nil
        case .message(let message, let consumed):
            buffer.moveReaderIndex(forwardBy: consumed)
            return .message(message)
        case .error(let error, let consumed):
            let span = min(consumed ?? buffer.readableBytes, buffer.readableBytes)
            let (salvaged, rawAnswer) = buffer.withUnsafeReadableBytes { raw -> (SIPRequest?, [UInt8]?) in
                let section = UnsafeRawBufferPointer(rebasing: raw[..<span])
                if let request = SIPSalvage.request(fromHeaderSection: section, limits: limits) { return (request, nil) }
                guard let status = error.status else { return (nil, nil) }
                return (nil, SIPSalvage.rawAnswer(status: status, fromHeaderSection: section, limits: limits))
            }
            if let consumed {
                buffer.moveReaderIndex(forwardBy: min(consumed, buffer.readableBytes))
                return .error(error, salvaged: salvaged, rawAnswer: rawAnswer, fatal: false)
            }
            failed = true
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return .error(error, salvaged: salvaged, rawAnswer: rawAnswer, fatal: true)
        }
    }

    /// Whether the bytes hold the empty line that ends a header section (CRLF CRLF or bare
    /// LF LF, as `SIPParser.frameStream` frames), searching from about `from` on.
    private static func hasHeaderEnd(_ bytes: UnsafeRawBufferPointer, from: Int) -> Bool {
        var i = 0
        while i < bytes.count, bytes[i] == cr || bytes[i] == lf { i += 1 }  // leading CRLFs end nothing
        i = max(i, from - 2)
        while i < bytes.count {
            if bytes[i] == lf {
                var j = i + 1
                if j < bytes.count, bytes[j] == cr { j += 1 }
                if j < bytes.count, bytes[j] == lf { return true }
            }
            i += 1
        }
        return false
    }

    mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> SIPStreamFrame? {
        // A message cut off by EOF is discarded (RFC 3261 §18.3); complete ones still count.
        let frame = try decode(buffer: &buffer)
        if frame == nil { buffer.moveReaderIndex(to: buffer.writerIndex) }
        return frame
    }
}

/// Rebuilding a request from a message that failed to parse, to answer it statelessly.
enum SIPSalvage {
    /// Takes the header section (up to the first empty line), drops Content-Length (the usual
    /// culprit, RFC 4475 §3.1.2.x) and any body, and parses the rest. Nil when that is still
    /// not a request with the headers a response needs (RFC 3261 §8.2.6: Via, From, To,
    /// Call-ID, CSeq), so the caller drops the message. Only the first `maxMessageSize` bytes
    /// are looked at: an oversized message (RFC 3261 §21.4.11, 413) whose header section fits
    /// is answered; one whose header section alone is over the limit is not.
    static func request(fromHeaderSection bytes: UnsafeRawBufferPointer, limits: SIPParseLimits) -> SIPRequest? {
        guard let end = headerSectionEnd(bytes, limits: limits) else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(end + 24)
        var dropping = false
        var lineStart = 0
        var first = true
        while lineStart < end {
            var lineEnd = lineStart
            while lineEnd < end, bytes[lineEnd] != 10 { lineEnd += 1 }
            let line = UnsafeRawBufferPointer(rebasing: bytes[lineStart..<min(lineEnd + 1, end)])
            let isContinuation = !first && (line.first == 0x20 || line.first == 0x09)
            if !isContinuation { dropping = !first && isContentLength(line) }
            if !dropping, line.count > 0 {
                out.append(contentsOf: line)
                if line.last != 10 { out.append(contentsOf: [13, 10]) }
            }
            first = false
            lineStart = lineEnd + 1
        }
        out.append(contentsOf: Array("Content-Length: 0\r\n\r\n".utf8))
        guard case .request(let request)? = try? SIPParser.parseDatagram(out, limits: limits) else { return nil }
        return request
    }

    /// Where the header lines of a request to answer end (after the last one's CRLF, before
    /// the empty line), looking at the first `maxMessageSize` bytes only; without an empty
    /// line, the whole of bytes that fit. Nil for nothing to answer: no bytes, a response
    /// (it starts with "SIP/"), or a header section over the limit.
    static func headerSectionEnd(_ bytes: UnsafeRawBufferPointer, limits: SIPParseLimits) -> Int? {
        guard bytes.count > 0 else { return nil }
        if bytes.count >= 4, bytes[0] == 0x53, bytes[1] == 0x49, bytes[2] == 0x50, bytes[3] == 0x2F { return nil }
        let window = min(bytes.count, limits.maxMessageSize)
        var i = 0
        while i + 3 < window {
            if bytes[i] == 13, bytes[i + 1] == 10, bytes[i + 2] == 13, bytes[i + 3] == 10 { return i + 2 }
            i += 1
        }
        return bytes.count <= limits.maxMessageSize ? bytes.count : nil
    }

    private static func isContentLength(_ line: UnsafeRawBufferPointer) -> Bool {
        // "Content-Length" with room for blanks: a longer name (a garbage line, PROTOS) is never
        // turned into a String.
        guard let colon = line.firstIndex(of: 0x3A), colon - line.startIndex <= 32 else { return false }
        var name = String(decoding: UnsafeRawBufferPointer(rebasing: line[..<colon]), as: UTF8.self)
        while name.last == " " || name.last == "\t" { name.removeLast() }
        name = name.lowercased()
        return name == "content-length" || name == "l"
    }
}
