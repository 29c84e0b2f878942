/// The one error type of SIPDialog: a request or response that cannot create or carry a
/// dialog (RFC 3261 §12), a full dialog table, or a send that could not start.
public struct DialogError: Error, Hashable, Sendable, CustomStringConvertible {
    /// An extensible error code.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public var name: String
        public init(_ name: String) { self.name = name }
        public var description: String { name }
        /// No Call-ID (§8.1.1.4, §12.1).
        public static let missingCallID = Code("missing-call-id")
        /// No CSeq, or one that does not parse (§8.1.1.5, §12.1.1).
        public static let missingCSeq = Code("missing-cseq")
        /// No From tag (the remote tag of a UAS, §12.1.1; the local tag of a UAC, §12.1.2).
        public static let missingFromTag = Code("missing-from-tag")
        /// A response without a To tag cannot create a dialog (§12.1.2).
        public static let missingToTag = Code("missing-to-tag")
        /// From or To absent or malformed (§8.1.1.2, §8.1.1.3).
        public static let missingFromOrTo = Code("missing-from-or-to")
        /// Not exactly one Contact URI (§12.1.1, §12.1.2: it becomes the remote target).
        public static let badContact = Code("bad-contact")
        /// The dialog table is at its cap (ARCHITECTURE.md: every table has a cap).
        public static let tableFull = Code("table-full")
        /// A dialog with this ID is already in the table.
        public static let duplicateDialog = Code("duplicate-dialog")
        /// The next hop URI is not a SIP URI we can send to (RFC 3263 without DNS).
        public static let unresolvableTarget = Code("unresolvable-target")
        /// The transaction layer refused the request (its ``SIPTransaction/SIPTransactionError``'s reason).
        public static let transactionFailed = Code("transaction-failed")
    }

    public var code: Code
    /// Human-readable reason, suitable for a Warning header or a log line.
    public var reason: String
    /// Where a request caused the error: the status to answer it with (400, 503, ...);
    /// nil when no request is waiting for an answer (a response, a send of ours).
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
