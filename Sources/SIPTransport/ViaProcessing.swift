import NIOCore
import SIPCore

/// Server-transport processing of the top Via (RFC 3261 §18.2.1, RFC 3581 §4) and the
/// response destination rules of RFC 3261 §18.2.2.
enum ViaProcessing {
    /// Adds `received` when the sent-by host is not the packet source IP (a name, or another
    /// address) and fills an empty `rport` with the source port (RFC 3581 §4, which also adds
    /// `received` then). Returns the request unchanged when it has nothing to add.
    ///
    /// A `received` the sender wrote itself is never trusted (only the server transport that
    /// received the packet may set it, §18.2.1): one that is not the source IP is replaced by
    /// it, so a forged Via cannot steer our responses to a third party; a second `received`
    /// is dropped. Likewise an `rport` value the sender wrote is replaced by the source port.
    static func stampTopVia(of request: inout SIPRequest, source: SocketAddress, sourceIP: String? = nil) {
        guard let sourceIP = sourceIP ?? source.ipAddress, let sourcePort = source.port else { return }
        guard var top = (try? request.topVia) ?? nil else { return }
        var changed = false
        var wantsRPort = false
        switch top.rport {
        case .some(.some(let port)) where port == sourcePort:
            wantsRPort = true
        case .some:
            wantsRPort = true
            top.setParameter("rport", String(sourcePort))
            changed = true
        case .none:
            break
        }
        if top.parameters.count(where: isReceived) > 1 {
            top.parameters.removeAll(where: isReceived)
            changed = true
        }
        if let forged = top.received, !sameIP(forged, sourceIP) {
            top.received = sourceIP
            changed = true
        } else if top.received == nil, wantsRPort || !sameIP(top.host, sourceIP) {
            top.received = sourceIP
            changed = true
        }
        guard changed else { return }
        request.headers.removeFirstValue("Via")
        request.headers.insertFirst("Via", top.description)
    }

    /// A `received` parameter (any case; the length first, so no String is made for others).
    private static func isReceived(_ parameter: SIPParameter) -> Bool {
        parameter.name.utf8.count == 8 && parameter.name.lowercased() == "received"
    }

    /// Whether `host` (possibly bracketed IPv6) is the IP address `ip`.
    static func sameIP(_ host: String, _ ip: String) -> Bool {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        if bare == ip { return true }
        guard bare.contains(":") || ip.contains(":") else { return false }
        // IPv6 text forms differ ("::1" vs "0:0::1"): compare parsed addresses.
        guard let a = try? SocketAddress(ipAddress: bare, port: 0), let b = try? SocketAddress(ipAddress: ip, port: 0) else {
            return false
        }
        return a.ipAddress == b.ipAddress
    }

    /// RFC 3261 §18.2.2 for a response whose request did not come over an open connection:
    /// the `received` address (else the sent-by host, which must then be numeric) and, for
    /// UDP, the `rport` port (RFC 3581 §4), else the sent-by port, else the default port.
    /// Nil when the Via names no usable numeric address (no DNS here: RFC 3263 is the caller's).
    static func responseDestination(topVia via: Via) -> SIPEndpoint? {
        guard let kind = SIPTransportKind(viaToken: via.transport) else { return nil }
        let host = via.received ?? via.host
        var port = via.port ?? kind.defaultPort
        if kind == .udp, case .some(.some(let rport)) = via.rport { port = rport }
        return try? SIPEndpoint(transport: kind, ip: host, port: port)
    }
}

extension ViaProcessing {
    /// Whether a host is a numeric IPv4 or (bracketed or not) IPv6 address.
    static func isNumeric(_ host: String) -> Bool {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        return (try? SocketAddress(ipAddress: bare, port: 0)) != nil
    }
}
