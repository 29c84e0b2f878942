/// The canonical serializer (RFC 3261 §7): full header names, CRLF line ends, one
/// Content-Length after the other headers giving the body's true length.
extension SIPRequest {
    public func serialized() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(estimatedSize(headers, body) + 32)
        out.append(contentsOf: method.rawValue.utf8)
        out.append(ASCII.sp)
        out.append(contentsOf: uri.description.utf8)
        out.append(contentsOf: " SIP/2.0\r\n".utf8)
        appendHeadersAndBody(&out, headers, body)
        return out
    }
}

extension SIPRequest {
    /// At least the length of ``serialized()``, worked out without building it: enough to
    /// tell that a request is small (RFC 3261 §18.1.1's 1300 bytes) at the price of a sum.
    public var serializedSizeBound: Int {
        estimatedSize(headers, body) + 32 + method.rawValue.utf8.count + uri.description.utf8.count
    }
}

extension SIPResponse {
    public func serialized() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(estimatedSize(headers, body) + 16 + reasonPhrase.utf8.count)
        out.append(contentsOf: "SIP/2.0 ".utf8)
        let code = min(max(statusCode, 100), 699)
        out.append(UInt8(0x30 + code / 100))
        out.append(UInt8(0x30 + code / 10 % 10))
        out.append(UInt8(0x30 + code % 10))
        out.append(ASCII.sp)
        for b in reasonPhrase.utf8 where b != ASCII.cr && b != ASCII.lf { out.append(b) }
        out.append(contentsOf: "\r\n".utf8)
        appendHeadersAndBody(&out, headers, body)
        return out
    }
}

extension SIPMessage {
    public func serialized() -> [UInt8] {
        switch self {
        case .request(let r): r.serialized()
        case .response(let r): r.serialized()
        }
    }
}

private func estimatedSize(_ headers: SIPHeaders, _ body: [UInt8]) -> Int {
    var n = body.count + 24
    for e in headers.entries {
        n += e.name.utf8.count + 4
        n += e.text?.utf8.count ?? Int(e.end - e.start)
    }
    return n
}

private func appendHeadersAndBody(_ out: inout [UInt8], _ headers: SIPHeaders, _ body: [UInt8]) {
    for e in headers.entries {
        if e.kind == .contentLength || e.name == "Content-Length" || asciiCaseInsensitiveEqual(e.name, "Content-Length") { continue }
        out.append(contentsOf: e.name.utf8)
        out.append(ASCII.colon)
        out.append(ASCII.sp)
        // A value must stay on its line: a CR or LF built in by hand becomes a space.
        headers.withValueBytes(e) { b, r in
            let v = UnsafeBufferPointer(rebasing: b[r])
            if v.contains(where: { $0 == ASCII.cr || $0 == ASCII.lf }) {
                for x in v { out.append(x == ASCII.cr || x == ASCII.lf ? ASCII.sp : x) }
            } else {
                out.append(contentsOf: v)
            }
        }
        out.append(ASCII.cr)
        out.append(ASCII.lf)
    }
    out.append(contentsOf: "Content-Length: ".utf8)
    out.append(contentsOf: String(body.count).utf8)
    out.append(contentsOf: "\r\n\r\n".utf8)
    out.append(contentsOf: body)
}
