import SIPCore
import SIPDialog
import SIPTransport

/// A transport a listener serves (RFC 3261 §18): the Via transport token is its uppercase name.
/// The transports a listener speaks: SIPTransport's kind (udp, tcp, tls).
public typealias ListenTransport = SIPTransportKind

/// One listening address: `udp:HOST:PORT` on the command line (CONTRACT.md).
public struct ListenAddress: Hashable, Sendable, CustomStringConvertible {
    public var transport: ListenTransport
    public var host: String
    public var port: Int
    /// `mtls:HOST:PORT`: a TLS listener for servers, a client certificate required.
    public var requiresClientCertificate: Bool

    public init(transport: ListenTransport, host: String, port: Int, requiresClientCertificate: Bool = false) {
        self.transport = transport
        self.host = host
        self.port = port
        self.requiresClientCertificate = transport == .tls && requiresClientCertificate
    }

    /// Parses `udp:HOST:PORT`, `tcp:[::1]:5060`, `mtls:HOST:PORT` with SIPTransport's
    /// `ListenSpec`; nil when malformed.
    public init?(spec: String) {
        guard let parsed = try? ListenSpec(parsing: spec) else { return nil }
        self.init(transport: parsed.transport, host: parsed.host, port: parsed.port,
                  requiresClientCertificate: parsed.requiresClientCertificate)
    }

    /// True for 0.0.0.0 and :: (every local address).
    public var isWildcard: Bool { host == "0.0.0.0" || host == "::" }

    /// `udp 127.0.0.1:5060`, the form the server prints once listening.
    public var description: String {
        let h = host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]" : host
        return "\(transport.rawValue) \(h):\(port)"
    }
}

/// Who this proxy is (RFC 3261 §16.4, §16.6): the domains it is responsible for, the name it
/// puts into Via and Record-Route, and the addresses it listens on. Used to recognise its own
/// Route and Record-Route values and its own Via sent-by (loop detection, §16.3 step 4).
public struct ProxyIdentity: Hashable, Sendable {
    /// The server's name (`--server-name`): Via and Record-Route host.
    public var serverName: String
    /// The SIP domains this server is responsible for (lowercased).
    public var domains: Set<String>
    /// The addresses it listens on, with the ports actually bound.
    public var listeners: [ListenAddress]
    /// Proxy-Require option tags this proxy understands (§16.3 step 5).
    public var supportedProxyRequire: Set<String>

    public init(serverName: String, domains: [String], listeners: [ListenAddress],
                supportedProxyRequire: Set<String> = []) {
        self.serverName = serverName
        self.domains = Set(domains.map { $0.lowercased() })
        self.listeners = listeners
        self.supportedProxyRequire = supportedProxyRequire
    }

    /// The host this server writes into Via and Record-Route for `transport`: the listener's
    /// address when it is a specific one, else the server name.
    public func advertisedHost(for transport: ListenTransport) -> String {
        if let l = listener(for: transport), !l.isWildcard { return l.host }
        return serverName
    }

    /// The port this server writes into Via and Record-Route for `transport`.
    public func advertisedPort(for transport: ListenTransport) -> Int {
        listener(for: transport)?.port ?? transport.defaultPort
    }

    func listener(for transport: ListenTransport) -> ListenAddress? {
        listeners.first { $0.transport == transport } ?? listeners.first
    }

    /// True when `host` names this server: its name, a listening address, or loopback
    /// for a wildcard listener.
    public func isOwnHost(_ host: String) -> Bool {
        let h = Self.bareHost(host)
        if h == serverName.lowercased() { return true }
        for l in listeners {
            if l.host.lowercased() == h { return true }
            if l.isWildcard, h == "127.0.0.1" || h == "::1" || h == "localhost" { return true }
        }
        return false
    }

    /// True when `host:port` is an address of this server (§16.4: "indicates this proxy").
    /// A host that is one of our domains counts when the port is one we listen on.
    public func isOwnAddress(host: String, port: Int?, secure: Bool = false) -> Bool {
        let h = Self.bareHost(host)
        let ports = Set(listeners.map(\.port))
        let p = port ?? (secure ? 5061 : 5060)
        guard ports.contains(p) || (port == nil && ports.isEmpty) else { return false }
        return isOwnHost(h) || domains.contains(h)
    }

    /// True when `uri` indicates this proxy: a Route or Record-Route value it inserted.
    public func isThisProxy(_ uri: URI) -> Bool {
        guard let sip = uri.sipURI else { return false }
        return isOwnAddress(host: sip.host, port: sip.port, secure: sip.secure)
    }

    /// True when `host` is one of our domains (any case, brackets or a trailing dot aside:
    /// `Example.COM.` is `example.com`), so a look-alike never passes for a stranger.
    public func isOurDomain(_ host: some StringProtocol) -> Bool {
        domains.contains(Self.bareHost(String(host)))
    }

    /// §16.5: true when this element is responsible for the domain of `uri` (one of our
    /// domains, or one of our own addresses).
    public func isResponsible(for uri: URI) -> Bool {
        guard let sip = uri.sipURI else { return false }
        let h = Self.bareHost(sip.host)
        if domains.contains(h) { return true }
        return isOwnAddress(host: h, port: sip.port, secure: sip.secure)
    }

    /// The Record-Route URI for requests arriving over `transport` (§16.6 step 4), with `lr`.
    public func recordRouteURI(for transport: ListenTransport, dialogToken: String? = nil) -> String {
        let host = advertisedHost(for: transport)
        let h = host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]" : host
        let port = advertisedPort(for: transport)
        let token = dialogToken.map { ";\(DialogRouteToken.parameter)=\($0)" } ?? ""
        switch transport {
        case .udp: return "<sip:\(h):\(port);lr\(token)>"
        case .tcp: return "<sip:\(h):\(port);transport=tcp;lr\(token)>"
        case .tls: return "<sips:\(h):\(port);lr\(token)>"
        }
    }

    static func bareHost(_ host: String) -> String { DialogDestination.bareHost(host) }
}
