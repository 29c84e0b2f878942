import SIPCore
import SIPTransport

/// Who a ``SIPUserAgent`` is and where it signs in: the address of record, the digest
/// credentials and the outbound proxy every request goes through (RFC 3261 §8.1.2).
public struct SIPAccount: Sendable {
    /// The address of record, `user@domain` (a `sip:` prefix is accepted and dropped).
    public var aor: String
    /// The digest username (RFC 3261 §22.4); the AOR's user part when nil.
    public var username: String?
    /// The digest password.
    public var password: String
    /// The outbound proxy as a SIP URI: `sip:127.0.0.1:5060`, `sip:10.0.0.1:5060;transport=tcp`,
    /// `sips:10.0.0.1:5061` or `;transport=tls` for TLS. Its host must be an IP address or a
    /// name the system resolves (no RFC 3263 NAPTR/SRV lookups); without a port, 5060 (5061
    /// for TLS).
    public var outboundProxy: String
    /// The display name put in From and Contact.
    public var displayName: String?
    /// The registration interval asked for in REGISTER (RFC 3261 §10.2.1.1); a `423` with
    /// `Min-Expires` raises it (§10.2.8).
    public var registrationExpires: Int = 3600
    /// How long before a registration, publication or subscription expires it is refreshed.
    /// Capped at half the granted interval, so short intervals are refreshed half way.
    public var refreshMargin: Duration = .seconds(30)
    /// The interval asked for in PUBLISH (RFC 3903 §4.1) and SUBSCRIBE (RFC 6665 §4.1.2.1).
    public var publicationExpires: Int = 3600
    /// The interval asked for in SUBSCRIBE (RFC 6665 §4.1.2.1; the server's minimum is 60).
    public var subscriptionExpires: Int = 3600
    /// RFC 5626 §4.4.1 keepalives on the flow to the proxy: a CRLFCRLF ping this often
    /// (TCP/TLS; a CRLFCRLF datagram on UDP). A ping that cannot be sent means the flow is
    /// lost, and the user agent registers again over a new one. Nil: no keepalives.
    public var keepaliveInterval: Duration? = .seconds(30)
    /// Answer an incoming MESSAGE that asks for it (`imdn.Disposition-Notification:
    /// positive-delivery`, RFC 5438 §5) with a delivery notification.
    public var sendsDeliveryNotifications: Bool = true
    /// The local address to bind; by default 127.0.0.1 when the proxy is on loopback, else
    /// 0.0.0.0 (all interfaces), and then Via and Contact carry the IPv4 address the system
    /// routes towards the proxy from.
    public var localHost: String?
    /// TLS settings (trust roots, client certificate) for a `transport=tls` proxy.
    public var tls: SIPTLSSettings?

    /// - Parameters:
    ///   - aor: `alice@example.com`.
    ///   - password: her digest password.
    ///   - outboundProxy: `sip:HOST:PORT;transport=udp|tcp|tls`.
    ///   - username: the digest username (RFC 3261 §22.4); the AOR's user part when nil.
    ///   - displayName: the display name put in From and Contact; none when nil.
    public init(aor: String, password: String, outboundProxy: String, username: String? = nil, displayName: String? = nil) {
        self.aor = aor.hasPrefix("sip:") ? String(aor.dropFirst(4)) : aor
        self.password = password
        self.outboundProxy = outboundProxy
        self.username = username
        self.displayName = displayName
    }

    /// The AOR's user part (before `@`).
    var user: String { String(aor.prefix { $0 != "@" }) }
    /// The AOR's domain (after `@`): the realm and the registrar's Request-URI.
    var domain: String { aor.split(separator: "@", maxSplits: 1).dropFirst().first.map(String.init) ?? "" }
    var digestUsername: String { username ?? user }
}
