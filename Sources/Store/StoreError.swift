/// The one error type of the Store target (ARCHITECTURE.md: a code, a human reason, and the
/// SIP status a server answers with when a request caused it).
public struct StoreError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, extensible like swift-certificates' error codes.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The user (address-of-record) is already in the directory.
        public static let duplicateUser = Code("duplicateUser")
        /// No user with that address-of-record.
        public static let unknownUser = Code("unknownUser")
        /// A value the store cannot hold (a malformed AOR, an HA1 of the wrong length).
        public static let invalidValue = Code("invalidValue")
        /// The storage refused the operation (read-only file, full disk, I/O error, locked):
        /// nothing was changed; retry later. Requests answer 500 with Retry-After.
        public static let unavailable = Code("unavailable")
        /// The database file could not be opened or migrated.
        public static let openFailed = Code("openFailed")
        /// Too many updates are waiting for their commit (the cap on pending group commits);
        /// answer 503 with Retry-After.
        public static let overloaded = Code("overloaded")
        /// The thing to change is not there (a contact or group of a roaming list).
        public static let notFound = Code("notFound")
        /// A bound would be exceeded (contacts or groups per list).
        public static let limitExceeded = Code("limitExceeded")
    }

    public var code: Code
    /// A human-readable reason, one line.
    public var reason: String
    /// The status to answer a request with when the request caused this error
    /// (500 for `unavailable`), nil when the error is not a request's.
    public var status: Int?

    public init(_ code: Code, _ reason: String, status: Int? = nil) {
        self.code = code
        self.reason = reason
        self.status = status
    }

    public var description: String { "\(code): \(reason)" }

    static func unavailable(_ reason: String) -> StoreError {
        StoreError(.unavailable, reason, status: 500)
    }
}
