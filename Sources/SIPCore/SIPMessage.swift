/// A SIP request (RFC 3261 §7.1): Request-Line, headers, body.
public struct SIPRequest: Hashable, Sendable {
    public var method: SIPMethod
    public var uri: URI
    public var headers: SIPHeaders
    public var body: [UInt8]

    public init(method: SIPMethod, uri: URI, headers: SIPHeaders = SIPHeaders(), body: [UInt8] = []) {
        self.method = method
        self.uri = uri
        self.headers = headers
        self.body = body
    }
}

/// A SIP response (RFC 3261 §7.2): Status-Line, headers, body.
public struct SIPResponse: Hashable, Sendable {
    public var statusCode: Int
    public var reasonPhrase: String
    public var headers: SIPHeaders
    public var body: [UInt8]

    public init(statusCode: Int, reasonPhrase: String? = nil, headers: SIPHeaders = SIPHeaders(), body: [UInt8] = []) {
        self.statusCode = statusCode
        self.reasonPhrase = reasonPhrase ?? SIPStatus.reasonPhrase(for: statusCode)
        self.headers = headers
        self.body = body
    }

    /// A response to `request` per RFC 3261 §8.2.6.2: copies the Via values (in order), From,
    /// To (adding `toTag` when given and To has no tag), Call-ID and CSeq, and Timestamp for a
    /// 100 (§8.2.6.1). The body is empty; the serializer writes `Content-Length: 0`.
    public init(responding request: SIPRequest, statusCode: Int, reasonPhrase: String? = nil, toTag: String? = nil) {
        self.statusCode = statusCode
        self.reasonPhrase = reasonPhrase ?? SIPStatus.reasonPhrase(for: statusCode)
        self.body = []
        // The copied values stay ranges of the request's bytes: nothing is copied but To.
        let rh = request.headers
        var h = SIPHeaders(storage: rh.storage, entries: [], hot: nil)
        h.entries.reserveCapacity(6)
        for e in rh.entries where e.kind == .via { h.entries.append(e) }
        if let from = rh.entries.first(where: { $0.kind == .from }) { h.entries.append(from) }
        if let to = rh.entries.first(where: { $0.kind == .to }) {
            // The request's To as received, with the tag appended (§8.2.6.2, §19.3).
            if let toTag, let na = request.to, na.tag == nil {  // the parser's typed To: no second parse
                h.entries.append(HeaderEntry(name: "To", kind: .to, text: NameAddr.appendingTag(toTag, to: rh.value(of: to))))
            } else {
                h.entries.append(to)
            }
        }
        if let callID = rh.entries.first(where: { $0.kind == .callID }) { h.entries.append(callID) }
        if let cseq = rh.entries.first(where: { $0.kind == .cseq }) { h.entries.append(cseq) }
        if statusCode == 100, let ts = rh.entries.first(where: { $0.name == "Timestamp" }) { h.entries.append(ts) }
        self.headers = h
    }
}

/// A request or a response.
public enum SIPMessage: Hashable, Sendable {
    case request(SIPRequest)
    case response(SIPResponse)

    public var headers: SIPHeaders {
        get {
            switch self {
            case .request(let r): r.headers
            case .response(let r): r.headers
            }
        }
        set {
            switch self {
            case .request(var r): r.headers = newValue; self = .request(r)
            case .response(var r): r.headers = newValue; self = .response(r)
            }
        }
    }

    public var body: [UInt8] {
        switch self {
        case .request(let r): r.body
        case .response(let r): r.body
        }
    }

    public var request: SIPRequest? {
        if case .request(let r) = self { return r }
        return nil
    }

    public var response: SIPResponse? {
        if case .response(let r) = self { return r }
        return nil
    }
}

/// Status codes and their reason phrases (RFC 3261 §21 and extensions).
public enum SIPStatus {
    public static func reasonPhrase(for code: Int) -> String {
        switch code {
        case 100: "Trying"
        case 180: "Ringing"
        case 181: "Call Is Being Forwarded"
        case 182: "Queued"
        case 183: "Session Progress"
        case 199: "Early Dialog Terminated"
        case 200: "OK"
        case 202: "Accepted"
        case 204: "No Notification"
        case 300: "Multiple Choices"
        case 301: "Moved Permanently"
        case 302: "Moved Temporarily"
        case 305: "Use Proxy"
        case 380: "Alternative Service"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 402: "Payment Required"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 406: "Not Acceptable"
        case 407: "Proxy Authentication Required"
        case 408: "Request Timeout"
        case 410: "Gone"
        case 412: "Conditional Request Failed"
        case 413: "Request Entity Too Large"
        case 414: "Request-URI Too Long"
        case 415: "Unsupported Media Type"
        case 416: "Unsupported URI Scheme"
        case 420: "Bad Extension"
        case 421: "Extension Required"
        case 423: "Interval Too Brief"
        case 430: "Flow Failed"
        case 439: "First Hop Lacks Outbound Support"
        case 480: "Temporarily Unavailable"
        case 481: "Call/Transaction Does Not Exist"
        case 482: "Loop Detected"
        case 483: "Too Many Hops"
        case 484: "Address Incomplete"
        case 485: "Ambiguous"
        case 486: "Busy Here"
        case 487: "Request Terminated"
        case 488: "Not Acceptable Here"
        case 489: "Bad Event"
        case 491: "Request Pending"
        case 493: "Undecipherable"
        case 500: "Server Internal Error"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Server Time-out"
        case 505: "Version Not Supported"
        case 513: "Message Too Large"
        case 600: "Busy Everywhere"
        case 603: "Decline"
        case 604: "Does Not Exist Anywhere"
        case 606: "Not Acceptable"
        default:
            switch code / 100 {
            case 1: "Provisional"
            case 2: "Success"
            case 3: "Redirection"
            case 4: "Client Error"
            case 5: "Server Error"
            default: "Global Failure"
            }
        }
    }
}
