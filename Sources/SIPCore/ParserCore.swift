#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

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
        guard scanLine(b, &le) else { throw fail(400, "Bare CR in start line") }
        let next = le + 1
        if le > i, b[le - 1] == ASCII.cr { le -= 1 }
        let start = i..<le
        i = next
        var requestLine: (SIPMethod, URI)?
        var statusLine: (Int, String)?
        if isResponse { statusLine = try parseStatusLine(b, start) } else { requestLine = try parseRequestLine(b, start, limits: limits) }

        // Header fields: names and value ranges; the hot headers' typed values are built
        // while they are checked (ARCHITECTURE "The hot path").
        var entries: [HeaderEntry] = []
        entries.reserveCapacity(16)
        var hot = HotBuilder()
        var contentLength: Int?
        var bodyStart = n
        var folded: [UInt8] = []
        var viaCount = 0
        let requestMethod = requestLine?.0
        while i < n {
            var e = i
            guard scanLine(b, &e) else { throw fail(400, "Bare CR in header line") }
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
                guard scanLine(b, &fe) else { throw fail(400, "Bare CR in header line") }
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
            let known = HeaderNames.lookup(b, i..<ns)
            let kind = known?.1 ?? .other
            if kind == .contentLength {
                let v: UInt64? = isFolded ? parseDecimal(String(decoding: folded, as: UTF8.self), limit: UInt64(Int32.max))
                    : parseDecimal(b, vs..<ve, limit: UInt64(Int32.max))
                guard let v else { throw fail(400, "Malformed Content-Length") }
                if let old = contentLength, old != Int(v) { throw fail(400, "Conflicting Content-Length values") }
                contentLength = Int(v)
            } else {
                if entries.count >= limits.maxHeaderCount { throw fail(400, "More than \(limits.maxHeaderCount) header fields") }
                let name = known?.0 ?? makeString(b, i..<ns)
                do throws(SIPParseError) {
                    if isFolded {
                        try folded.withUnsafeBufferPointer { fb -> Result<Void, SIPParseError> in
                            do throws(SIPParseError) {
                                return .success(try checkValue(fb, 0..<fb.count, kind, requestMethod, limits, &viaCount, &hot))
                            } catch { return .failure(error) }
                        }.get()
                        entries.append(HeaderEntry(name: name, kind: kind, text: String(decoding: folded, as: UTF8.self)))
                    } else {
                        try checkValue(b, vs..<ve, kind, requestMethod, limits, &viaCount, &hot)
                        entries.append(HeaderEntry(name: name, kind: kind, range: vs..<ve))
                    }
                } catch {
                    throw fail(error.status ?? 400, error.reason)
                }
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
        // One copy of the start line and header section: the values' ranges point into it.
        let storage = Array(UnsafeBufferPointer(rebasing: b[0..<min(bodyStart, n)]))
        let headers = SIPHeaders(storage: storage, entries: entries, hot: HotHeaders(consume hot))

        if let (code, reason) = statusLine {
            return .response(SIPResponse(statusCode: code, reasonPhrase: reason, headers: headers, body: body))
        }
        guard let (method, uri) = requestLine else { throw fail(400, "Malformed start line") }
        return .request(SIPRequest(method: method, uri: uri, headers: headers, body: body))
    }

    /// Advances `i` to the LF ending the line (or the end); false when a CR appears anywhere
    /// but just before that LF (a bare CR could not be serialized back as received).
    @inline(__always)
    static func scanLine(_ b: Bytes, _ i: inout Int) -> Bool {
        let n = b.count
        guard i < n, let base = b.baseAddress else { return true }
        let end = memchr(base + i, 0x0A, n - i).map { UnsafeRawPointer(base).distance(to: UnsafeRawPointer($0)) } ?? n
        // The byte just before the LF (or the last byte) may be a CR; no other may.
        if end - 1 > i, memchr(base + i, 0x0D, end - 1 - i) != nil { return false }
        i = end
        return true
    }

    /// `Method SP Request-URI SP SIP-Version` (§7.1, §25.1), single spaces only.
    static func parseRequestLine(_ b: Bytes, _ r: Range<Int>, limits: SIPParseLimits) throws(SIPParseError) -> (SIPMethod, URI) {
        var c = Cursor(b, r)
        guard let m = c.token(), c.eat(ASCII.sp) else { throw .badRequest("Malformed Request-Line") }
        let us = c.pos
        // The URI ends at the first SP or HTAB.
        let sp = firstIndex(of: ASCII.sp, b, us..<c.end) ?? c.end
        c.pos = firstIndex(of: ASCII.htab, b, us..<sp) ?? sp
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

    /// Checks the value of a header every element relies on (§8.1.1, §8.2.2, §16.3): Via,
    /// From, To, CSeq (and its method against the Request-Line), Contact, Route,
    /// Record-Route, Path, Call-ID, Max-Forwards; builds the typed value of the first of each
    /// hot header (every Contact) into `hot`; and checks the value is UTF-8 (§25.1
    /// TEXT-UTF8: anything else could not be kept as received).
    @inline(__always)
    static func checkValue(_ b: Bytes, _ r: Range<Int>, _ kind: HeaderKind, _ method: SIPMethod?,
                           _ limits: SIPParseLimits, _ viaCount: inout Int, _ hot: inout HotBuilder) throws(SIPParseError) {
        switch kind {
        case .via:
            if hot.first(.via) {
                viaCount += try Via.validateList(b, r, top: &hot.topVia)
            } else {
                viaCount += try Via.validateList(b, r)
            }
            if viaCount > limits.maxViaCount { throw .badRequest("More than \(limits.maxViaCount) Via values") }
        case .from:
            if hot.first(.from) { hot.from = try NameAddr.parse(b, r) } else { try NameAddr.validate(b, r) }
        case .to:
            if hot.first(.to) { hot.to = try NameAddr.parse(b, r) } else { try NameAddr.validate(b, r) }
        case .cseq:
            let cseq = try CSeq.parse(b, r)
            if let method, cseq.method != method {
                throw SIPParseError(status: method.isStandard ? 400 : 501, reason: "CSeq method \(cseq.method) does not match \(method)")
            }
            if hot.first(.cseq) { hot.cseq = cseq }
        case .contact:
            let list = try ContactValue.parseList(b, r, build: true)
            if hot.contacts.isEmpty { hot.contacts = list } else { hot.contacts += list }
        case .route, .recordRoute, .path:
            try forEachListElement(b, r) { (e) throws(SIPParseError) in try NameAddr.validate(b, e) }
        case .callID:
            guard !r.isEmpty else { throw .badRequest("Empty Call-ID") }
            for i in r where b[i] <= 0x20 { throw .badRequest("Malformed Call-ID") }
            if hot.first(.callID) { hot.callID = makeString(b, r) }
        case .maxForwards:
            guard parseDecimal(b, r, limit: UInt64(UInt32.max)) != nil else { throw .badRequest("Malformed Max-Forwards") }
            if hot.first(.maxForwards) { hot.maxForwards = parseDecimal(b, r, limit: UInt64(Int32.max)).map { Int($0) } }
        case .expires:
            if hot.first(.expires) { hot.expires = deltaSeconds(b, r) }
        case .contentLength, .other:
            break
        }
        if !isASCII(b, r), !isValidUTF8(b, r) { throw .badRequest("Header value is not valid UTF-8") }
    }
}
