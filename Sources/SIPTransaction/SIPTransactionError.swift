/// The one error type of SIPTransaction.
public struct SIPTransactionError: Error, Hashable, Sendable, CustomStringConvertible {
    /// An extensible error code.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public var name: String
        public init(_ name: String) { self.name = name }
        public var description: String { name }
        /// Timer B, F or H fired (RFC 3261 §17.1.1.2, §17.1.2.2, §17.2.1).
        public static let timeout = Code("timeout")
        /// The transport could not send (§8.1.3.1, §17.1.4, §17.2.4).
        public static let transportError = Code("transport-error")
        /// The request lacks what a transaction needs (top Via, CSeq, Call-ID, From, To).
        public static let malformedRequest = Code("malformed-request")
        /// The transaction is over (or never existed); nothing more can be sent in it.
        public static let noSuchTransaction = Code("no-such-transaction")
        /// The state machine refused the response (e.g. a second final response).
        public static let responseNotAllowed = Code("response-not-allowed")
        /// A table is full (ARCHITECTURE.md: every table has a cap); answer 503 with Retry-After.
        public static let overloaded = Code("overloaded")
        /// The layer is shutting down.
        public static let shuttingDown = Code("shutting-down")
    }

    public var code: Code
    /// Human-readable reason.
    public var reason: String
    /// Where a request caused the error: the status a server answers with.
    public var status: Int?

    public init(_ code: Code, _ reason: String, status: Int? = nil) {
        self.code = code
        self.reason = reason
        self.status = status
    }

    public var description: String {
        status.map { "\(code) (\($0)): \(reason)" } ?? "\(code): \(reason)"
    }
}
