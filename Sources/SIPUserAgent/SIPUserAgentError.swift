/// What can go wrong in a ``SIPUserAgent``: a typed value that carries the SIP status when
/// the far end (the proxy, the registrar, the peer) answered with one.
public enum SIPUserAgentError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The request got a final response that is not a success (RFC 3261 §8.1.3.3, §21):
    /// `status` and the response's reason phrase, e.g. `rejected(status: 480, reason:
    /// "Temporarily Unavailable")`. A 401/407 that our credentials could not satisfy arrives
    /// here too.
    case rejected(status: Int, reason: String)
    /// No final response in time: the transaction's Timer B/F fired (RFC 3261 §17.1.2.2,
    /// treated as 408), or a wait for an IMDN delivery notification timed out.
    case timeout
    /// The transport could not send the request (connection refused or closed, no route;
    /// RFC 3261 §8.1.3.1, treated as 503), with the transport's reason.
    case transport(String)
    /// A bad address or setting: an AOR without `@`, an outbound proxy that is not a SIP URI.
    case invalidArgument(String)
    /// The user agent is not running (``SIPUserAgent/start()`` not called yet, or stopped).
    case notRunning
    /// The task waiting for the answer was cancelled.
    case cancelled

    /// The SIP status this error stands for: the response's for ``rejected(status:reason:)``,
    /// 408 for ``timeout``, 503 for ``transport(_:)`` (RFC 3261 §8.1.3.1); nil otherwise.
    public var status: Int? {
        switch self {
        case .rejected(let status, _): status
        case .timeout: 408
        case .transport: 503
        default: nil
        }
    }

    public var description: String {
        switch self {
        case .rejected(let status, let reason): "rejected: \(status) \(reason)"
        case .timeout: "timeout (no final response)"
        case .transport(let reason): "transport error: \(reason)"
        case .invalidArgument(let reason): "invalid argument: \(reason)"
        case .notRunning: "the user agent is not running"
        case .cancelled: "cancelled"
        }
    }
}
