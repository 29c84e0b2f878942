/// The result of framing a byte stream (RFC 3261 §18.3).
public enum StreamFrame: Sendable {
    /// The message is not complete yet; nothing was consumed.
    case needMoreBytes
    /// A message and the number of bytes it took.
    case message(SIPMessage, consumed: Int)
    /// A malformed message. `consumed` is how many bytes to skip to the next message, or nil
    /// when framing is unrecoverable (bad Content-Length, oversized): close the stream.
    case error(SIPParseError, consumed: Int?)
}

/// The message parser (RFC 3261 §7, §18.3, §25). Works on bytes; builds each header value
/// string once; typed values are parsed on access, except Via, From, To, CSeq, Contact,
/// Call-ID and Max-Forwards, which are validated here so that a malformed request gets its
/// 400 before any layer sees it.
public enum SIPParser {
    /// RFC 3261 §18.3 datagram framing: octets past Content-Length are ignored; with no
    /// Content-Length the body is the rest of the datagram.
    public static func parseDatagram(_ bytes: some Collection<UInt8>, limits: SIPParseLimits = .default) throws(SIPParseError) -> SIPMessage {
        let result = bytes.withContiguousStorageIfAvailable { buf -> Result<SIPMessage, SIPParseError> in
            do throws(SIPParseError) { return .success(try parse(buf, limits: limits, stream: false)) } catch { return .failure(error) }
        }
        if let result { return try result.get() }
        let copy = Array(bytes)
        return try copy.withUnsafeBufferPointer { buf -> Result<SIPMessage, SIPParseError> in
            do throws(SIPParseError) { return .success(try parse(buf, limits: limits, stream: false)) } catch { return .failure(error) }
        }.get()
    }

    /// Stream framing (RFC 3261 §18.3): frames by Content-Length (absent counts as 0), never
    /// consumes on `.needMoreBytes`. The transport strips keepalive CRLFs before calling.
    public static func frameStream(_ bytes: UnsafeRawBufferPointer, limits: SIPParseLimits = .default) -> StreamFrame {
        let b = bytes.bindMemory(to: UInt8.self)
        guard let headEnd = findHeaderEnd(b) else {
            if b.count > limits.maxMessageSize { return .error(SIPParseError(status: 413, reason: "Header section exceeds \(limits.maxMessageSize) bytes"), consumed: nil) }
            return .needMoreBytes
        }
        let length: Int
        switch scanContentLength(b, 0..<headEnd) {
        case .failure(let e): return .error(e, consumed: nil)
        case .success(let n): length = n ?? 0
        }
        let total = headEnd + length
        if total > limits.maxMessageSize {
            return .error(SIPParseError(status: 413, reason: "Message exceeds \(limits.maxMessageSize) bytes"), consumed: nil)
        }
        if total > b.count { return .needMoreBytes }
        do throws(SIPParseError) {
            let m = try parse(UnsafeBufferPointer(rebasing: b[0..<total]), limits: limits, stream: true)
            return .message(m, consumed: total)
        } catch {
            return .error(error, consumed: total)
        }
    }

    /// Index just past the empty line ending the header section (CRLF CRLF, or bare LF LF).
    static func findHeaderEnd(_ b: Bytes) -> Int? {
        var i = 0
        let n = b.count
        // Leading CRLFs before the start line are not the end of anything (§7.5).
        while i < n, b[i] == ASCII.cr || b[i] == ASCII.lf { i += 1 }
        while i < n {
            if b[i] == ASCII.lf {
                var j = i + 1
                if j < n, b[j] == ASCII.cr { j += 1 }
                if j < n, b[j] == ASCII.lf { return j + 1 }
            }
            i += 1
        }
        return nil
    }

    /// The Content-Length of the header section in `range` without a full parse; a failure when
    /// it is malformed or given twice with different values (framing unrecoverable).
    static func scanContentLength(_ b: Bytes, _ range: Range<Int>) -> Result<Int?, SIPParseError> {
        var found: Int?
        var i = range.lowerBound
        while i < range.upperBound {
            var e = i
            while e < range.upperBound, b[e] != ASCII.lf { e += 1 }
            var ns = i
            while ns < e, ASCII.isToken(b[ns]) { ns += 1 }
            if equalsLowercased(b, i..<ns, "content-length") || equalsLowercased(b, i..<ns, "l") {
                var c = Cursor(b, ns..<(e > i && b[e - 1] == ASCII.cr ? e - 1 : e))
                if c.eatSeparator(ASCII.colon) {
                    c.skipWS()
                    guard let d = c.digits(), let v = parseDecimal(b, d, limit: UInt64(Int32.max)) else {
                        return .failure(.badRequest("Malformed Content-Length"))
                    }
                    c.skipWS()
                    guard c.atEnd else { return .failure(.badRequest("Malformed Content-Length")) }
                    if let f = found, f != Int(v) { return .failure(.badRequest("Conflicting Content-Length values")) }
                    found = Int(v)
                }
            }
            i = e + 1
        }
        return .success(found)
    }
}
