/// Content-Type (RFC 3261 §20.15): `type/subtype *(;param)`.
public struct ContentType: Hashable, Sendable, CustomStringConvertible {
    public var type: String
    public var subtype: String
    public var parameters: [SIPParameter]

    public init(type: String, subtype: String, parameters: [SIPParameter] = []) {
        self.type = type
        self.subtype = subtype
        self.parameters = parameters
    }

    /// `type/subtype` lowercased, e.g. `application/sdp`.
    public var mediaType: String { (type + "/" + subtype).lowercased() }
    public var description: String {
        var s = type + "/" + subtype
        parameters.serialized(into: &s)
        return s
    }

    public static func parse(_ text: String) throws(SIPParseError) -> ContentType {
        try withBytes(text) { (b) throws(SIPParseError) in
            var c = Cursor(b)
            c.skipWS()
            guard let t = c.token(), c.eatSeparator(ASCII.slash), let s = c.token() else { throw .badRequest("Malformed Content-Type") }
            let p = try parseHeaderParameters(&c)
            return ContentType(type: c.string(t), subtype: c.string(s), parameters: p)
        }
    }
}

/// Event (RFC 6665 §8.2.1): the event package (with templates, `presence.winfo`) and `id`.
public struct EventHeader: Hashable, Sendable, CustomStringConvertible {
    public var package: String
    public var parameters: [SIPParameter]

    public init(package: String, parameters: [SIPParameter] = []) {
        self.package = package
        self.parameters = parameters
    }

    public var id: String? { parameters.value("id") ?? nil }
    public var description: String {
        var s = package
        parameters.serialized(into: &s)
        return s
    }

    public static func parse(_ text: String) throws(SIPParseError) -> EventHeader {
        try withBytes(text) { (b) throws(SIPParseError) in
            var c = Cursor(b)
            c.skipWS()
            guard let t = c.token() else { throw .badRequest("Malformed Event") }
            let p = try parseHeaderParameters(&c)
            return EventHeader(package: c.string(t), parameters: p)
        }
    }
}

/// Subscription-State (RFC 6665 §8.2.3): `active`, `pending`, `terminated` or an extension,
/// with `expires`, `reason`, `retry-after`.
public struct SubscriptionState: Hashable, Sendable, CustomStringConvertible {
    public var state: String
    public var parameters: [SIPParameter]

    public init(state: String, parameters: [SIPParameter] = []) {
        self.state = state
        self.parameters = parameters
    }

    public var expires: Int? { (parameters.value("expires") ?? nil).flatMap(deltaSeconds) }
    public var reason: String? { parameters.value("reason") ?? nil }
    public var retryAfter: Int? { (parameters.value("retry-after") ?? nil).flatMap(deltaSeconds) }
    public var description: String {
        var s = state
        parameters.serialized(into: &s)
        return s
    }

    public static func parse(_ text: String) throws(SIPParseError) -> SubscriptionState {
        try withBytes(text) { (b) throws(SIPParseError) in
            var c = Cursor(b)
            c.skipWS()
            guard let t = c.token() else { throw .badRequest("Malformed Subscription-State") }
            let p = try parseHeaderParameters(&c)
            return SubscriptionState(state: c.string(t).lowercased(), parameters: p)
        }
    }
}

extension SIPHeaderAccess {
    /// Content-Type; nil when absent or malformed.
    public var contentType: ContentType? { headers.first("Content-Type").flatMap { try? ContentType.parse($0) } }
    /// Event (RFC 6665); nil when absent or malformed.
    public var event: EventHeader? { headers.first("Event").flatMap { try? EventHeader.parse($0) } }
    /// Subscription-State (RFC 6665); nil when absent or malformed.
    public var subscriptionState: SubscriptionState? { headers.first("Subscription-State").flatMap { try? SubscriptionState.parse($0) } }
    /// Allow (§20.5).
    public var allow: [SIPMethod] { headers["Allow"].map { SIPMethod($0) } }
    /// Allow-Events (RFC 6665 §8.2.2).
    public var allowEvents: [String] { headers["Allow-Events"] }
    /// Supported option tags (§20.37).
    public var supported: [String] { headers["Supported"] }
    /// Require option tags (§20.32).
    public var require: [String] { headers["Require"] }
    /// Proxy-Require option tags (§20.29).
    public var proxyRequire: [String] { headers["Proxy-Require"] }
    /// Unsupported option tags (§20.40).
    public var unsupported: [String] { headers["Unsupported"] }
    /// SIP-ETag (RFC 3903 §11.3.1).
    public var sipETag: String? { headers.first("SIP-ETag") }
    /// SIP-If-Match (RFC 3903 §11.3.2).
    public var sipIfMatch: String? { headers.first("SIP-If-Match") }
    /// Authorization values (§20.7), any scheme.
    public var authorizations: [DigestCredentials] { headers.fieldValues("Authorization").compactMap { try? DigestCredentials.parse($0) } }
    /// Proxy-Authorization values (§20.28), any scheme.
    public var proxyAuthorizations: [DigestCredentials] { headers.fieldValues("Proxy-Authorization").compactMap { try? DigestCredentials.parse($0) } }
    /// WWW-Authenticate challenges (§20.44).
    public var wwwAuthenticates: [DigestChallenge] { headers.fieldValues("WWW-Authenticate").compactMap { try? DigestChallenge.parse($0) } }
    /// Proxy-Authenticate challenges (§20.27).
    public var proxyAuthenticates: [DigestChallenge] { headers.fieldValues("Proxy-Authenticate").compactMap { try? DigestChallenge.parse($0) } }
    /// All Call-ID fields (a well-formed message has exactly one).
    public var callIDs: [String] { headers.fieldValues("Call-ID") }
}
