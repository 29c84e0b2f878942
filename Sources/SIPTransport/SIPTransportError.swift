/// SIPTransport: UDP, TCP and TLS on SwiftNIO (RFC 3261 §18, RFC 3581, RFC 5626, RFC 5923).

/// The one error type of the SIPTransport target: an extensible code, a human reason, and,
/// where an inbound request caused it, the SIP status a server answers with.
public struct SIPTransportError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, extensible like swift-certificates' error codes.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// A `--listen` spec that is not `udp|tcp|tls:HOST:PORT`.
        public static let invalidListenSpec = Code("invalidListenSpec")
        /// A listener could not be bound (port taken, address not local).
        public static let bindFailed = Code("bindFailed")
        /// An outbound connection could not be opened.
        public static let connectFailed = Code("connectFailed")
        /// The connection a message was to go over is closed.
        public static let connectionClosed = Code("connectionClosed")
        /// The total or per-address connection cap was reached.
        public static let connectionLimit = Code("connectionLimit")
        /// The peer stopped reading and the outbound buffer cap was exceeded.
        public static let backpressure = Code("backpressure")
        /// No listener or TLS settings fit the destination (e.g. no UDP socket, no certificate).
        public static let noRoute = Code("noRoute")
        /// A destination that cannot be derived (e.g. a response with no usable Via).
        public static let invalidDestination = Code("invalidDestination")
        /// Certificate, key or CA could not be loaded or used.
        public static let tlsConfiguration = Code("tlsConfiguration")
        /// A TLS peer presented no certificate, an untrusted one, or one for another name.
        public static let tlsPeerRejected = Code("tlsPeerRejected")
        /// A message could not be framed or parsed (RFC 3261 §18.3).
        public static let framing = Code("framing")
        /// A message is too large for the transport (e.g. over 65507 bytes on UDP).
        public static let messageTooLarge = Code("messageTooLarge")
        /// The transport layer is not running (not started, or shut down).
        public static let notRunning = Code("notRunning")
    }

    public var code: Code
    /// Human-readable reason.
    public var reason: String
    /// The status to answer an inbound request with, when one caused the error.
    public var status: Int?

    public init(_ code: Code, _ reason: String, status: Int? = nil) {
        self.code = code
        self.reason = reason
        self.status = status
    }

    public var description: String {
        if let status { return "\(code): \(reason) (\(status))" }
        return "\(code): \(reason)"
    }
}
