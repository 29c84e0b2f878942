/// The one error type of SIPCore: a message (or a header value) that does not follow the
/// RFC 3261 §25 grammar, with the status a server answers with.
public struct SIPParseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The status a server answers a request with (400, 413, 414, 505, 501, ...);
    /// nil when the message is a malformed response, which is silently dropped (RFC 3261 §18.1.2).
    public var status: Int?
    /// Human-readable reason, suitable for a Warning header or a log line.
    public var reason: String

    public init(status: Int?, reason: String) {
        self.status = status
        self.reason = reason
    }

    /// A malformed response: discard it.
    public var isDrop: Bool { status == nil }

    /// What kind of fault, for metrics and logs (derived from the status).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }
        /// 400: the message does not follow the grammar.
        public static let malformed = Code("malformed")
        /// 413: larger than `SIPParseLimits.maxMessageSize`.
        public static let messageTooLarge = Code("message-too-large")
        /// 414: Request-URI longer than `SIPParseLimits.maxURILength`.
        public static let uriTooLong = Code("uri-too-long")
        /// 505: a SIP version other than 2.0.
        public static let versionNotSupported = Code("version-not-supported")
        /// 501: an unknown method whose CSeq names another (RFC 4475 §3.1.2.18).
        public static let notImplemented = Code("not-implemented")
        /// No status: a malformed response, dropped (RFC 3261 §18.1.2).
        public static let malformedResponse = Code("malformed-response")
    }

    public var code: Code {
        switch status {
        case nil: .malformedResponse
        case 413: .messageTooLarge
        case 414: .uriTooLong
        case 505: .versionNotSupported
        case 501: .notImplemented
        default: .malformed
        }
    }

    /// `400 Bad Request` with `reason`.
    public static func badRequest(_ reason: String) -> SIPParseError { SIPParseError(status: 400, reason: reason) }

    public var description: String {
        if let status { return "\(status) \(SIPStatus.reasonPhrase(for: status)): \(reason)" }
        return "drop: \(reason)"
    }
}

/// Limits the parser enforces against oversized or hostile input.
public struct SIPParseLimits: Sendable, Hashable {
    /// Whole message (start line, headers and body); larger: 413 (RFC 3261 §21.4.11).
    public var maxMessageSize: Int
    /// Header fields (lines after unfolding); more: 400.
    public var maxHeaderCount: Int
    /// One header field value after unfolding (the name is not counted, so that expanding a
    /// compact name never pushes a re-serialized message over); longer: 400.
    public var maxHeaderLineLength: Int
    /// Request-URI length; longer: 414 Request-URI Too Long (RFC 3261 §21.4.12).
    public var maxURILength: Int
    /// Via values in one message; more: 400.
    public var maxViaCount: Int

    public init(maxMessageSize: Int = 65536, maxHeaderCount: Int = 256, maxHeaderLineLength: Int = 16384,
                maxURILength: Int = 8192, maxViaCount: Int = 64) {
        self.maxMessageSize = maxMessageSize
        self.maxHeaderCount = maxHeaderCount
        self.maxHeaderLineLength = maxHeaderLineLength
        self.maxURILength = maxURILength
        self.maxViaCount = maxViaCount
    }

    public static let `default` = SIPParseLimits()
}
