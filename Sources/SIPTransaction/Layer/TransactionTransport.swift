import SIPCore
import SIPTransport

/// Transport as seen by the transaction layer (RFC 3261 §18): three operations, no NIO.
/// SIPTransport's listeners satisfy it through `SIPTransportAdapter`; tests use a fake.
///
/// Sends return at once; a failure arrives later through `onFailure`, which the layer
/// turns into a transport error event for the transaction (§17.1.4, §17.2.4).
public protocol TransactionTransport: Sendable {
    /// Sends a request towards `destination` (§18.1.1): over the flow named in it if
    /// there is one, else on a new or existing connection / the datagram socket.
    func send(_ request: SIPRequest, to destination: SIPDestination,
              onFailure: @escaping @Sendable (SIPTransactionError) -> Void)
    /// Sends a response to the request that came from `source`, per §18.2.2 (the
    /// connection it arrived on while open; else `received`/`rport` of the top Via).
    func send(_ response: SIPResponse, replyingTo source: SIPMessageSource,
              onFailure: @escaping @Sendable (SIPTransactionError) -> Void)
    /// The sent-by (host and port) to put in a Via for requests to `destination` (§18.1.1).
    func sentBy(for destination: SIPDestination) -> SIPHostPort
}

/// A host (name, IPv4 or bracketed IPv6 literal) and port.
public struct SIPHostPort: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
    public var description: String {
        host.utf8.contains(UInt8(ascii: ":")) && !host.hasPrefix("[") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

/// Where an inbound message came from, as much as the response path of §18.2.2 needs.
public struct SIPMessageSource: Hashable, Sendable, CustomStringConvertible {
    public var transport: SIPTransportKind
    /// The peer's address (IP literal) and port.
    public var remote: SIPHostPort
    /// Our listening address it arrived on, if known.
    public var local: SIPHostPort?
    /// The transport's handle for the connection (or socket) it arrived on.
    public var flowID: UInt64?
    /// Transport-private data for the response path (the SIPTransport adapter keeps the
    /// `InboundMessage` here). Not part of equality.
    public var transportContext: (any Sendable)?

    public init(transport: SIPTransportKind, remote: SIPHostPort, local: SIPHostPort? = nil, flowID: UInt64? = nil,
                transportContext: (any Sendable)? = nil) {
        self.transport = transport
        self.remote = remote
        self.local = local
        self.flowID = flowID
        self.transportContext = transportContext
    }
    public static func == (a: Self, b: Self) -> Bool {
        a.transport == b.transport && a.remote == b.remote && a.local == b.local && a.flowID == b.flowID
    }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(transport)
        hasher.combine(remote)
        hasher.combine(flowID)
    }
    public var description: String { "\(transport):\(remote)" }
}

/// Where a client transaction sends its request (the result of RFC 3263 resolution, or a
/// flow to reuse, RFC 5626).
public struct SIPDestination: Hashable, Sendable, CustomStringConvertible {
    public var transport: SIPTransportKind
    public var address: SIPHostPort
    /// Reuse this flow (connection) if it is still open.
    public var flowID: UInt64?
    /// The flow's remote address (RFC 5626 §5.2: where the registration came from). When
    /// set, the flow is used only while it is open and leads there; otherwise the request goes
    /// to `address`. When nil, the flow must lead to `address` itself.
    public var flowAddress: SIPHostPort?
    /// TLS: the name the peer's certificate must carry (RFC 5922 §7.2; also SNI); nil =
    /// chain check only.
    public var tlsServerName: String?

    public init(transport: SIPTransportKind, address: SIPHostPort, flowID: UInt64? = nil, tlsServerName: String? = nil,
                flowAddress: SIPHostPort? = nil) {
        self.flowAddress = flowAddress
        self.transport = transport
        self.address = address
        self.flowID = flowID
        self.tlsServerName = tlsServerName
    }

    /// Back to the peer a message came from (same transport and flow).
    public init(replyingTo source: SIPMessageSource) {
        self.init(transport: source.transport, address: source.remote, flowID: source.flowID)
    }
    public var description: String { "\(transport):\(address)" }
}
