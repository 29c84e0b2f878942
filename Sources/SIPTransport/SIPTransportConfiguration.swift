import NIOCore
import SIPCore

/// Settings of one transport layer.
public struct SIPTransportConfiguration: Sendable {
    /// Message size and header limits for the parser (RFC 3261 §18.3, §21.4.14).
    public var parseLimits: SIPParseLimits = .default
    /// A TCP/TLS connection with no traffic either way for this long is closed
    /// (RFC 5626 clients ping every 95–120 s, RFC 5626 §4.4.1).
    public var idleTimeout: TimeAmount = .seconds(300)
    /// Cap on open TCP/TLS connections, inbound and outbound together.
    public var maxConnections: Int = 10_000
    /// Cap on open TCP/TLS connections to or from one remote IP address.
    public var maxConnectionsPerIP: Int = 1_000
    /// Cap on bytes queued towards a peer that does not read; past it the connection closes.
    public var maxBufferedOutboundBytes: Int = 1 << 20
    /// Slow-header defence: how long a TCP/TLS message may take from its first byte until it
    /// is complete (headers and body, RFC 3261 §18.3); past it the connection is closed. A
    /// peer trickling a header line every few seconds would otherwise keep the connection,
    /// and its buffer, forever (each byte resets the idle timer). RFC 5626 §3.5.1 keepalive
    /// CRLFs between messages do not start a message.
    public var messageCompletionTimeout: TimeAmount = .seconds(10)
    /// How long an accepted TCP/TLS connection may stay open (TLS handshake included) without
    /// delivering its first complete message; past it the connection is closed.
    public var firstMessageTimeout: TimeAmount = .seconds(20)
    /// How long an outbound TCP connect may take.
    public var connectTimeout: TimeAmount = .seconds(10)
    /// TLS listeners and outbound TLS need these; nil = no TLS.
    public var tls: SIPTLSSettings?

    public init(tls: SIPTLSSettings? = nil) {
        self.tls = tls
    }
}

/// A bound listener (tests bind port 0 and read the port back here).
public struct SIPListener: Sendable, CustomStringConvertible {
    /// The spec as asked for.
    public let spec: ListenSpec
    /// The address actually bound.
    public let localAddress: SocketAddress
    let channel: any Channel

    /// The spec with the bound port (`tcp:127.0.0.1:0` becomes `tcp:127.0.0.1:40213`).
    public var boundSpec: ListenSpec {
        ListenSpec(transport: spec.transport, host: localAddress.ipAddress ?? spec.host, port: localAddress.port ?? spec.port)
    }

    public var port: Int { localAddress.port ?? spec.port }

    /// `tcp 127.0.0.1:5060`, as servers print it (CONTRACT.md).
    public var description: String { "\(spec.transport) \(localAddress.sipHostPort)" }
}
