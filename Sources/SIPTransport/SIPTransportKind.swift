import NIOCore

/// The transports of RFC 3261 §18 this layer speaks.
public enum SIPTransportKind: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case udp, tcp, tls

    /// Reliable (stream) transports frame by Content-Length (RFC 3261 §18.3).
    public var isReliable: Bool { self != .udp }
    /// Whether the stream is secured with TLS.
    public var isSecure: Bool { self == .tls }
    /// The transport token in a Via header (RFC 3261 §20.42): `UDP`, `TCP`, `TLS`.
    public var viaToken: String { rawValue.uppercased() }
    /// The default port (RFC 3261 §19.1.2): 5060, or 5061 for TLS.
    public var defaultPort: Int { self == .tls ? 5061 : 5060 }
    public var description: String { rawValue }

    /// The kind named by a Via transport token (case-insensitive); nil for SCTP, WS, ...
    public init?(viaToken: String) {
        self.init(rawValue: viaToken.lowercased())
    }
}

/// One listener from a `--listen` spec: `udp:HOST:PORT`, `tcp:HOST:PORT`, `tls:HOST:PORT`.
/// IPv6 hosts are bracketed (`tcp:[::1]:5060`); `host` is kept without the brackets.
public struct ListenSpec: Hashable, Sendable, CustomStringConvertible, LosslessStringConvertible {
    public var transport: SIPTransportKind
    /// An IP address (IPv4, or IPv6 without brackets) or a host name.
    public var host: String
    /// 0 asks the system for a free port (tests); read it back from the bound listener.
    public var port: Int
    /// TLS only: connecting peers must present a certificate that chains to the trust roots
    /// and passes the name check (mutual TLS, the listener servers use), whatever the
    /// transport's default client-certificate policy. Written `mtls:HOST:PORT`.
    public var requiresClientCertificate: Bool

    public init(transport: SIPTransportKind, host: String, port: Int, requiresClientCertificate: Bool = false) {
        self.transport = transport
        self.host = host
        self.port = port
        self.requiresClientCertificate = transport == .tls && requiresClientCertificate
    }

    /// Parses `udp:HOST:PORT` / `tcp:HOST:PORT` / `tls:HOST:PORT` / `mtls:HOST:PORT` (IPv6 as `[ADDR]`).
    public init(parsing text: String) throws(SIPTransportError) {
        func bad(_ why: String) -> SIPTransportError {
            SIPTransportError(.invalidListenSpec, "listen spec '\(text)': \(why)")
        }
        guard let colon = text.firstIndex(of: ":") else { throw bad("expected TRANSPORT:HOST:PORT") }
        let scheme = text[..<colon].lowercased()
        let mutual = scheme == "mtls"
        guard let kind = mutual ? .tls : SIPTransportKind(rawValue: scheme) else {
            throw bad("transport must be udp, tcp, tls or mtls")
        }
        let rest = text[text.index(after: colon)...]
        let host: Substring
        let portText: Substring
        if rest.first == "[" {
            guard let close = rest.firstIndex(of: "]") else { throw bad("unclosed '['") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let afterClose = rest[rest.index(after: close)...]
            guard afterClose.first == ":" else { throw bad("expected ':PORT' after ']'") }
            portText = afterClose.dropFirst()
            guard host.contains(":") else { throw bad("brackets are for IPv6 addresses") }
        } else {
            guard let last = rest.lastIndex(of: ":") else { throw bad("expected HOST:PORT") }
            host = rest[..<last]
            portText = rest[rest.index(after: last)...]
            guard !host.contains(":") else { throw bad("an IPv6 address must be bracketed") }
        }
        guard !host.isEmpty else { throw bad("empty host") }
        guard !portText.isEmpty, portText.allSatisfy(\.isASCII), let port = Int(portText), (0...65535).contains(port) else {
            throw bad("port must be 0...65535")
        }
        self.init(transport: kind, host: String(host), port: port, requiresClientCertificate: mutual)
    }

    public init?(_ description: String) {
        guard let spec = try? ListenSpec(parsing: description) else { return nil }
        self = spec
    }

    public var description: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return "\(requiresClientCertificate ? "mtls" : transport.rawValue):\(h):\(port)"
    }
}

/// Where a message goes or came from: a transport and a socket address, plus for TLS the name
/// the peer's certificate must carry (RFC 5922 §7.2; also used as SNI).
/// Two endpoints with the same transport and address share one connection (RFC 5923).
public struct SIPEndpoint: Hashable, Sendable, CustomStringConvertible {
    public var transport: SIPTransportKind
    public var address: SocketAddress
    /// The expected peer name for an outbound TLS connection; nil = chain only, no name check.
    public var tlsServerName: String?
    /// A TCP/TLS connection to prefer while it is open and its remote address is `address`
    /// (an RFC 5626 flow, e.g. the one a contact registered over: name the address the
    /// REGISTER came from, not the Contact's); otherwise the connection table decides by
    /// transport and address (RFC 5626 §5.3: the flow is gone).
    public var connectionID: SIPConnectionID?

    public init(transport: SIPTransportKind, address: SocketAddress, tlsServerName: String? = nil,
                connectionID: SIPConnectionID? = nil) {
        self.transport = transport
        self.address = address
        self.tlsServerName = tlsServerName
        self.connectionID = connectionID
    }

    /// An endpoint from a numeric IP and port (no DNS: RFC 3263 resolution is the caller's).
    public init(transport: SIPTransportKind, ip: String, port: Int, tlsServerName: String? = nil,
                connectionID: SIPConnectionID? = nil) throws(SIPTransportError) {
        let bare = ip.hasPrefix("[") && ip.hasSuffix("]") ? String(ip.dropFirst().dropLast()) : ip
        let address: SocketAddress
        do {
            address = try SocketAddress(ipAddress: bare, port: port)
        } catch {
            throw SIPTransportError(.invalidDestination, "'\(ip)' is not a numeric IP address")
        }
        self.init(transport: transport, address: address, tlsServerName: tlsServerName, connectionID: connectionID)
    }

    public var description: String { "\(transport):\(address.sipHostPort)" }

    /// The text a registrar can store for the flow a REGISTER came over (RFC 5626 §5.2), and
    /// read back with ``init(flowToken:)``: `tcp:192.0.2.1:40000#<id>` (IPv6 bracketed). It
    /// keeps the flow's remote address with its id, so a request to the binding names both,
    /// as a send over a flow requires. Nil without a connection id.
    public var flowToken: String? {
        connectionID.map { "\(self)#\($0.rawValue)" }
    }

    /// The endpoint a ``flowToken`` names: the flow's transport, remote address and id.
    public init(flowToken: String) throws(SIPTransportError) {
        let bad = SIPTransportError(.invalidDestination, "'\(flowToken)' is not a flow token")
        guard let hash = flowToken.lastIndex(of: "#"), let id = UInt64(flowToken[flowToken.index(after: hash)...]), id != 0,
              let spec = try? ListenSpec(parsing: String(flowToken[..<hash])) else { throw bad }
        try self.init(transport: spec.transport, ip: spec.host, port: spec.port, connectionID: SIPConnectionID(rawValue: id))
    }
}

extension SocketAddress {
    /// `192.0.2.1:5060` or `[2001:db8::1]:5060`.
    var sipHostPort: String {
        let ip = ipAddress ?? "?"
        let port = self.port ?? 0
        return self.protocol == .inet6 ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}
