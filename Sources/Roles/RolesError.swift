/// The one error type of the Roles target: a code, a human reason, and, where a request
/// caused it, the SIP status to answer with (RFC 3261 §21).
public struct RolesError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as an extensible code.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// A request failed §16.3 validation.
        public static let invalidRequest = Code("invalid-request")
        /// A configuration value (option, config file line) is unusable.
        public static let badConfiguration = Code("bad-configuration")
        /// A component the server needs could not be started.
        public static let startupFailed = Code("startup-failed")
        /// A request could not be forwarded (no usable next hop).
        public static let forwardingFailed = Code("forwarding-failed")
    }

    public var code: Code
    public var reason: String
    /// The status a server answers with when a request caused this error; nil otherwise.
    public var status: Int?
    public var file: String
    public var line: Int

    public init(_ code: Code, _ reason: String, status: Int? = nil, file: String = #fileID, line: Int = #line) {
        self.code = code
        self.reason = reason
        self.status = status
        self.file = file
        self.line = line
    }

    public var description: String {
        if let status { return "\(code): \(status) \(reason)" }
        return "\(code): \(reason)"
    }

    public static func == (lhs: RolesError, rhs: RolesError) -> Bool {
        lhs.code == rhs.code && lhs.reason == rhs.reason && lhs.status == rhs.status
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(reason)
        hasher.combine(status)
    }
}
