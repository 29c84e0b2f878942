extension SIPParser {
    /// Parses one whole message in `b`. In datagram mode octets past Content-Length are
    /// ignored; a missing empty line after the last header is tolerated (RFC 4475 archive files).
    static func parse(_ b: Bytes, limits: SIPParseLimits, stream: Bool) throws(SIPParseError) -> SIPMessage {
        var i = 0
        let n = b.count
        while i < n, b[i] == ASCII.cr || b[i] == ASCII.lf { i += 1 }
        let isResponse = n - i >= 4 && equalsLowercased(b, i..<(i + 4), "sip/")
        func fail(_ status: Int, _ reason: String) -> SIPParseError { SIPParseError(status: isResponse ? nil : status, reason: reason) }
        guard i < n else { throw fail(400, "Empty message") }
        if n > limits.maxMessageSize { throw fail(413, "Message exceeds \(limits.maxMessageSize) bytes") }

        // Start line.
        var le = i
        while le < n, b[le] != ASCII.lf { le += 1 }
        let next = le + 1
        if le > i, b[le - 1] == ASCII.cr { le -= 1 }
        let start = i..<le
        i = next
        var requestLine: (SIPMethod, URI)?
        var statusLine: (Int, String)?
        if isResponse { statusLine = try parseStatusLine(b, start) } else { requestLine = try parseRequestLine(b, start, limits: limits) }

        // Header fields.
        var fields: [SIPHeaderField] = []
        fields.reserveCapacity(16)
        var contentLength: Int?
        var bodyStart = n
        var folded: [UInt8] = []
        while i < n {
            var e = i
            while e < n, b[e] != ASCII.lf { e += 1 }
            let lineNext = e + 1
            if e > i, b[e - 1] == ASCII.cr { e -= 1 }
            if e == i { bodyStart = min(lineNext, n); break }
            if ASCII.isWS(b[i]) { throw fail(400, "Continuation line without a header") }
            // field-name HCOLON
            var ns = i
            while ns < e, ASCII.isToken(b[ns]) { ns += 1 }
            guard ns > i else { throw fail(400, "Malformed header line") }
            var c = ns
            while c < e, ASCII.isWS(b[c]) { c += 1 }
            guard c < e, b[c] == ASCII.colon else { throw fail(400, "Header line without a colon") }
            var vs = c + 1
            while vs < e, ASCII.isWS(b[vs]) { vs += 1 }
            var ve = e
            // Folded continuation lines (§7.3.1): CRLF followed by whitespace.
            var after = lineNext
            var isFolded = false
            while after < n, ASCII.isWS(b[after]) {
                var fe = after
                while fe < n, b[fe] != ASCII.lf { fe += 1 }
                let fnext = fe + 1
                if fe > after, b[fe - 1] == ASCII.cr { fe -= 1 }
                var fs = after
                while fs < fe, ASCII.isWS(b[fs]) { fs += 1 }
                if fs == fe && fe == after { break }  // impossible: starts with WS
                if !isFolded {
                    isFolded = true
                    folded.removeAll(keepingCapacity: true)
                    var t = ve
                    while t > vs, ASCII.isWS(b[t - 1]) { t -= 1 }
                    folded.append(contentsOf: UnsafeBufferPointer(rebasing: b[vs..<t]))
                }
                if fs < fe {
                    if !folded.isEmpty { folded.append(ASCII.sp) }
                    var t = fe
                    while t > fs, ASCII.isWS(b[t - 1]) { t -= 1 }
                    folded.append(contentsOf: UnsafeBufferPointer(rebasing: b[fs..<t]))
                }
                after = fnext
                ve = fe
            }
            if !isFolded { while ve > vs, ASCII.isWS(b[ve - 1]) { ve -= 1 } }
            let valueLength = isFolded ? folded.count : ve - vs
            if valueLength > limits.maxHeaderLineLength { throw fail(400, "Header value exceeds \(limits.maxHeaderLineLength) bytes") }
            let canonical = HeaderNames.canonical(b, i..<ns)
            if canonical == "Content-Length" {
                let v: UInt64? = isFolded ? parseDecimal(String(decoding: folded, as: UTF8.self), limit: UInt64(Int32.max))
                    : parseDecimal(b, vs..<ve, limit: UInt64(Int32.max))
                guard let v else { throw fail(400, "Malformed Content-Length") }
                if let old = contentLength, old != Int(v) { throw fail(400, "Conflicting Content-Length values") }
                contentLength = Int(v)
            } else {
                if fields.count >= limits.maxHeaderCount { throw fail(400, "More than \(limits.maxHeaderCount) header fields") }
                // Header values are UTF-8 (§25.1 TEXT-UTF8); anything else could not be kept as received.
                let decoded = isFolded ? folded.withUnsafeBufferPointer { String(validating: $0, as: UTF8.self) }
                    : String(validating: UnsafeBufferPointer(rebasing: b[vs..<ve]), as: UTF8.self)
                guard let value = decoded else { throw fail(400, "Header value is not valid UTF-8") }
                fields.append(SIPHeaderField(name: canonical ?? makeString(b, i..<ns), value: value))
            }
            i = after
        }

        // Body (§18.3).
        var bodyEnd = n
        if let contentLength {
            if bodyStart + contentLength > n {
                throw fail(400, "Content-Length \(contentLength) exceeds the \(n - min(bodyStart, n)) bytes received")
            }
            bodyEnd = bodyStart + contentLength
        } else if stream {
            bodyEnd = bodyStart
        }
        let body = bodyStart < bodyEnd ? Array(UnsafeBufferPointer(rebasing: b[bodyStart..<bodyEnd])) : []
        let headers = SIPHeaders(canonicalFields: fields)

        if let (code, reason) = statusLine {
            let response = SIPResponse(statusCode: code, reasonPhrase: reason, headers: headers, body: body)
            do throws(SIPParseError) {
                try validate(headers, method: nil, limits: limits)
            } catch {
                throw SIPParseError(status: nil, reason: error.reason)
            }
            return .response(response)
        }
        guard let (method, uri) = requestLine else { throw fail(400, "Malformed start line") }
        try validate(headers, method: method, limits: limits)
        return .request(SIPRequest(method: method, uri: uri, headers: headers, body: body))
    }

    /// `Method SP Request-URI SP SIP-Version` (§7.1, §25.1), single spaces only.
    static func parseRequestLine(_ b: Bytes, _ r: Range<Int>, limits: SIPParseLimits) throws(SIPParseError) -> (SIPMethod, URI) {
        var c = Cursor(b, r)
        guard let m = c.token(), c.eat(ASCII.sp) else { throw .badRequest("Malformed Request-Line") }
        let us = c.pos
        while c.pos < c.end, b[c.pos] != ASCII.sp, b[c.pos] != ASCII.htab { c.pos += 1 }
        let uriRange = us..<c.pos
        guard c.eat(ASCII.sp) else { throw .badRequest("Request-Line without SIP-Version") }
        let version = c.pos..<c.end
        if !equalsLowercased(b, version, "sip/2.0") {
            var v = Cursor(b, version)
            if equalsLowercased(b, version.lowerBound..<min(version.lowerBound + 4, version.upperBound), "sip/") {
                v.pos += 4
                if v.digits() != nil, v.eat(ASCII.dot), v.digits() != nil, v.atEnd {
                    throw SIPParseError(status: 505, reason: "SIP version \(c.string(version)) not supported")
                }
            }
            throw .badRequest("Malformed SIP-Version")
        }
        guard !uriRange.isEmpty else { throw .badRequest("Empty Request-URI") }
        if uriRange.count > limits.maxURILength {
            throw SIPParseError(status: 414, reason: "Request-URI exceeds \(limits.maxURILength) bytes")
        }
        let uri = try URI.parse(b, uriRange)
        if case .sip(let s) = uri, !s.headers.isEmpty {
            throw .badRequest("Request-URI must not contain headers (RFC 3261 §19.1.1)")
        }
        return (SIPMethod.fromBytes(b, m), uri)
    }

    /// `SIP-Version SP Status-Code SP Reason-Phrase` (§7.2); any fault means drop.
    static func parseStatusLine(_ b: Bytes, _ r: Range<Int>) throws(SIPParseError) -> (Int, String) {
        let drop = { (why: String) in SIPParseError(status: nil, reason: why) }
        guard r.count >= 11, equalsLowercased(b, r.lowerBound..<(r.lowerBound + 7), "sip/2.0"), b[r.lowerBound + 7] == ASCII.sp else {
            throw drop("Malformed Status-Line or unsupported version")
        }
        let cs = r.lowerBound + 8
        guard ASCII.isDigit(b[cs]), ASCII.isDigit(b[cs + 1]), ASCII.isDigit(b[cs + 2]),
              cs + 3 == r.upperBound || b[cs + 3] == ASCII.sp else { throw drop("Malformed Status-Code") }
        let code = Int(b[cs] - 0x30) * 100 + Int(b[cs + 1] - 0x30) * 10 + Int(b[cs + 2] - 0x30)
        guard (100...699).contains(code) else { throw drop("Status-Code out of range") }
        guard cs + 4 <= r.upperBound else { return (code, "") }
        guard let reason = String(validating: UnsafeBufferPointer(rebasing: b[(cs + 4)..<r.upperBound]), as: UTF8.self) else {
            throw drop("Reason-Phrase is not valid UTF-8")
        }
        return (code, reason)
    }

    /// Checks the headers every element relies on (§8.1.1, §8.2.2, §16.3): Via, From, To,
    /// CSeq (and its method against the Request-Line), Contact, Route, Record-Route,
    /// Call-ID, Max-Forwards.
    static func validate(_ headers: SIPHeaders, method: SIPMethod?, limits: SIPParseLimits) throws(SIPParseError) {
        var viaCount = 0
        for f in headers.fields {
            switch f.name {
            case "Via":
                viaCount += try withBytes(f.value) { (b) throws(SIPParseError) in try Via.validateList(b, 0..<b.count) }
                if viaCount > limits.maxViaCount { throw .badRequest("More than \(limits.maxViaCount) Via values") }
            case "From", "To":
                _ = try withBytes(f.value) { (b) throws(SIPParseError) in try NameAddr.parse(b, 0..<b.count, build: false) }
            case "CSeq":
                let cseq = try CSeq.parse(f.value)
                if let method, cseq.method != method {
                    throw SIPParseError(status: method.isStandard ? 400 : 501,
                                        reason: "CSeq method \(cseq.method) does not match \(method)")
                }
            case "Contact":
                _ = try withBytes(f.value) { (b) throws(SIPParseError) in try ContactValue.parseList(b, 0..<b.count, build: false) }
            case "Route", "Record-Route", "Path":
                try withBytes(f.value) { (b) throws(SIPParseError) in
                    try forEachListElement(b, 0..<b.count) { (r) throws(SIPParseError) in _ = try NameAddr.parse(b, r, build: false) }
                }
            case "Call-ID":
                guard !f.value.isEmpty, !f.value.utf8.contains(where: { $0 <= 0x20 }) else { throw .badRequest("Malformed Call-ID") }
            case "Max-Forwards":
                guard parseDecimal(f.value, limit: UInt64(UInt32.max)) != nil else { throw .badRequest("Malformed Max-Forwards") }
            default:
                break
            }
        }
    }
}
