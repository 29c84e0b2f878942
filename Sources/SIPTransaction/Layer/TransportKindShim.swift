// TEMPORARY: the same shape as SIPTransport's `SIPTransportKind`, until that lands on main.
// Delete this file then.

/// The transports of RFC 3261 §18.
public enum SIPTransportKind: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case udp, tcp, tls
    public var isReliable: Bool { self != .udp }
    public var viaToken: String { rawValue.uppercased() }
    public var description: String { rawValue }
}
