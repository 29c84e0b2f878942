import NIOCore
import SIPCore

/// Identifies one connection (TCP/TLS) or one UDP socket. Never 0; unique within a transport
/// layer and, by a random per-layer epoch in bits 32–62, across processes, so an id
/// saved with a binding before a restart names no connection after it. With the remote
/// address it names an RFC 5626 flow; a send checks both (see `SIPEndpoint.connectionID`).
public struct SIPConnectionID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    public var description: String { "#\(rawValue)" }
}

/// A message as it arrived: the parsed message (for a request, the top Via already carries
/// `received`/`rport` per RFC 3261 §18.2.1 and RFC 3581) and where it came from.
public struct InboundMessage: Sendable {
    public var message: SIPMessage
    public let transport: SIPTransportKind
    /// The packet source (for a stream, the connection's remote address).
    public let remote: SocketAddress
    /// The local address it arrived on.
    public let local: SocketAddress
    /// The connection (TCP/TLS) or UDP socket it arrived on; with `remote`, the RFC 5626 flow.
    public let connectionID: SIPConnectionID
    /// For TLS: the DNS SANs (else CN) of the peer's verified certificate; empty otherwise.
    public let tlsPeerNames: [String]
    /// `remote` and `local` as IP text (`SocketAddress.ipAddress`), formatted once per
    /// connection rather than once per message.
    public let remoteIP: String
    public let localIP: String
    /// The channel it arrived on: responses go back over it (RFC 3261 §18.2.2).
    let channel: any Channel

    init(message: SIPMessage, transport: SIPTransportKind, remote: SocketAddress, local: SocketAddress,
         connectionID: SIPConnectionID, tlsPeerNames: [String], channel: any Channel,
         remoteIP: String? = nil, localIP: String? = nil) {
        self.remoteIP = remoteIP ?? remote.ipAddress ?? "?"
        self.localIP = localIP ?? local.ipAddress ?? "?"
        self.message = message
        self.transport = transport
        self.remote = remote
        self.local = local
        self.connectionID = connectionID
        self.tlsPeerNames = tlsPeerNames
        self.channel = channel
    }

    /// The flow it came over as a destination: sending to it reuses the same connection while
    /// that is open (RFC 5626 §5.2, RFC 5923), e.g. requests to a contact registered over it.
    public var source: SIPEndpoint {
        SIPEndpoint(transport: transport, address: remote, connectionID: transport.isReliable ? connectionID : nil)
    }
}

/// The upward interface of the transport (one callback per layer, as in sipgo).
///
/// Called on the event loop of the connection or socket the message arrived on: do not block;
/// hop into your own executor (an actor, a task) for real work. Messages of one connection are
/// delivered in order.
public protocol SIPInboundHandler: Sendable {
    /// A well-formed message arrived.
    func transportDidReceive(_ inbound: InboundMessage)
    /// A TCP/TLS connection closed (RFC 5626 §4.4: the flow failed). Default: nothing.
    /// Called once the connection has left the flow table.
    func transportDidCloseConnection(_ id: SIPConnectionID, endpoint: SIPEndpoint)
    /// A TCP/TLS connection, inbound or outbound, closed: called on its event loop as soon as
    /// the channel goes inactive, so a transaction waiting on it fails at once with a
    /// transport error (RFC 3261 §17.1.4) rather than at timer B/F. Default: nothing.
    func transportConnectionDidClose(_ id: SIPConnectionID)
}

extension SIPInboundHandler {
    public func transportDidCloseConnection(_ id: SIPConnectionID, endpoint: SIPEndpoint) {}
    public func transportConnectionDidClose(_ id: SIPConnectionID) {}
}

/// A handler from a closure (tests, small programs).
public struct SIPInboundClosure: SIPInboundHandler {
    let body: @Sendable (InboundMessage) -> Void
    public init(_ body: @escaping @Sendable (InboundMessage) -> Void) { self.body = body }
    public func transportDidReceive(_ inbound: InboundMessage) { body(inbound) }
}
