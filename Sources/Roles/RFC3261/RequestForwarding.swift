import SIPCore
import SIPDialog
import SIPTransaction

/// One target of a forwarded request (RFC 3261 §16.5): the URI that becomes the
/// Request-URI, plus what a registration said about reaching it.
public struct ForwardTarget: Hashable, Sendable {
    /// The new Request-URI (a registered contact, or the Request-URI itself).
    public var uri: URI
    /// RFC 3327 Path values stored with the binding; they become the first Route values.
    public var path: [String]
    /// The flow (connection) the binding was registered over (RFC 5626), opaque here.
    public var flowID: UInt64?
    /// The remote address of that flow (where the REGISTER came from): the transport uses
    /// the flow only while it still leads there (a stale id never reaches someone else).
    public var flowAddress: SIPHostPort?
    /// The contact's q-value, for ordering (RFC 3261 §16.6).
    public var q: Double?
    /// Where to send it when no Route decides (RFC 3261 §16.6 step 7 otherwise resolves the
    /// Request-URI): a peer server (`--peer`), or the flow of a client behind this proxy.
    public var destination: NextHop?

    public init(uri: URI, path: [String] = [], flowID: UInt64? = nil, flowAddress: SIPHostPort? = nil, q: Double? = nil,
                destination: NextHop? = nil) {
        self.destination = destination
        self.flowAddress = flowAddress
        self.uri = uri
        self.path = path
        self.flowID = flowID
        self.q = q
    }
}

/// Where a forwarded request goes next (RFC 3261 §16.6 step 7): the URI to resolve (the
/// first Route value, else the Request-URI), the transport, and the flow to reuse if any.
public struct NextHop: Hashable, Sendable, CustomStringConvertible {
    public var transport: ListenTransport
    public var host: String
    public var port: Int
    public var flowID: UInt64?
    /// The flow's remote address (see ``ForwardTarget/flowAddress``).
    public var flowAddress: SIPHostPort?
    /// TLS: the name the server's certificate must carry (RFC 5922 §7.2); nil checks the
    /// chain only (a numeric address).
    public var tlsServerName: String?
    /// For a named host: what RFC 3263 resolution needs from the URI (nil: the port and
    /// transport are as given).
    public var uriLookup: Lookup?
    /// The lookup a resolver makes for this hop's host.
    public var lookup: Lookup { uriLookup ?? Lookup(port: port, transport: transport, secure: false) }

    public init(transport: ListenTransport, host: String, port: Int, flowID: UInt64? = nil,
                flowAddress: SIPHostPort? = nil) {
        self.flowAddress = flowAddress
        self.transport = transport
        self.host = host
        self.port = port
        self.flowID = flowID
    }

    /// RFC 3263 without DNS (the rules of SIPDialog's `DialogDestination.resolve(_:flowID:flowAddress:)`):
    /// transport from the `transport` parameter (sips means TLS), host from `maddr` or the
    /// URI, the port from the URI or the transport's default; nil for a non-SIP URI.
    public init?(uri: URI, flowID: UInt64? = nil) {
        guard let destination = DialogDestination.resolve(uri) else { return nil }
        self.init(transport: destination.transport, host: destination.address.host, port: destination.address.port,
                  flowID: flowID)
        if transport == .tls, !isNumericHost { tlsServerName = host.lowercased() }
        if !isNumericHost, let sip = uri.sipURI {
            let given = sip.transport.flatMap { ListenTransport(rawValue: $0.lowercased()) }
            uriLookup = Lookup(port: sip.port, transport: given, secure: sip.secure)
        }
    }

    /// True when `host` is an IP literal (no resolution needed).
    public var isNumericHost: Bool {
        let h = DialogDestination.bareHost(host)
        return h.utf8.contains(UInt8(ascii: ":")) || h.utf8.allSatisfy { $0 == UInt8(ascii: ".") || (48...57).contains($0) }
    }

    public var description: String { "\(transport.rawValue):\(host):\(port)" }

    /// The same place (the lookup hints do not count).
    public static func == (a: NextHop, b: NextHop) -> Bool {
        a.transport == b.transport && a.host == b.host && a.port == b.port && a.flowID == b.flowID
            && a.flowAddress == b.flowAddress && a.tlsServerName == b.tlsServerName
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(transport)
        hasher.combine(host)
        hasher.combine(port)
        hasher.combine(flowID)
    }
}

/// A request ready for a client transaction (RFC 3261 §16.6 step 10).
public struct ForwardedRequest: Hashable, Sendable {
    public var request: SIPRequest
    public var nextHop: NextHop
    /// The branch of the Via this proxy added (the client transaction's identity).
    public var branch: String
}

/// RFC 3261 §16.6 request forwarding: builds the copy sent to one target.
public enum RequestForwarding {
    /// Methods whose initial requests create a dialog and so are record-routed
    /// (RFC 3261 §12, RFC 6665 §4.1, RFC 3515).
    public static let dialogCreating: Set<SIPMethod> = [.invite, .subscribe, .refer]

    /// True when this proxy should Record-Route `request`: a dialog-creating method outside
    /// a dialog (no To tag).
    public static func shouldRecordRoute(_ request: SIPRequest) -> Bool {
        dialogCreating.contains(request.method) && (request.to?.tag ?? nil) == nil
    }

    /// Builds the request for `target` (§16.6 steps 1-8).
    /// - Parameters:
    ///   - original: the request as the policy shaped it (§16.6 step 1 copies it).
    ///   - target: the target whose URI becomes the Request-URI (step 2).
    ///   - identity: who this proxy is (Record-Route and Via values).
    ///   - inbound: the transport the request arrived over (for Record-Route).
    ///   - recordRoute: insert Record-Route (step 4).
    ///   - loopHash: the request's loop hash computed at validation (§16.3 step 4).
    ///   - seed: distinguishes this request from others with the same loop hash (the
    ///     upstream top Via branch).
    ///   - fork: the index of this branch among the targets.
    ///   - resolved: the next hop as RFC 3263 resolution found it (Via and Record-Route
    ///     follow its transport); nil when the hop is numeric.
    ///   - origin: where the request came from (its packet's source), named in the dialog
    ///     token of a Record-Route (``DialogRouteToken``).
    public static func forward(_ original: SIPRequest, to target: ForwardTarget, identity: ProxyIdentity,
                               inbound: ListenTransport, recordRoute: Bool, loopHash: String,
                               seed: String, fork: Int, resolved: NextHop? = nil,
                               origin: SIPHostPort? = nil) -> ForwardedRequest? {
        // Step 1-2: copy, Request-URI = target.
        var request = original
        request.uri = target.uri
        // Step 3: Max-Forwards.
        if let raw = request.headers.first("Max-Forwards"), let mf = Int(raw.trimmingWhitespace) {
            request.headers.replace("Max-Forwards", with: String(max(mf - 1, 0)))
        } else {
            request.headers.append("Max-Forwards", "70")
        }
        // RFC 3327 §5.3: the binding's Path values become the first Route values.
        for value in target.path.reversed() { request.headers.insertFirst("Route", value) }
        // Step 6: a strict router as next hop gets the Request-URI as last Route value.
        var strictNextHop = false
        if let top = request.headers["Route"].first, let addr = NameAddr(top),
           let sip = addr.uri.sipURI, !sip.hasLR {
            request.headers.removeFirstValue("Route")
            request.headers.append("Route", "<\(request.uri.description)>")
            request.uri = addr.uri
            strictNextHop = true
        }
        // Step 7: next hop from the first Route value, else (or for a strict router) the
        // Request-URI.
        var hopURI = request.uri
        if !strictNextHop, let top = request.headers["Route"].first, let addr = NameAddr(top) { hopURI = addr.uri }
        var nextHop: NextHop
        if request.headers.first("Route") == nil, let destination = target.destination {
            nextHop = destination
        } else {
            guard let hop = NextHop(uri: hopURI, flowID: target.flowID) else { return nil }
            nextHop = hop
            nextHop.flowAddress = target.flowID == nil ? nil : target.flowAddress
        }
        // RFC 3263: the address (and transport) the resolver chose for a named hop.
        if let resolved { nextHop = resolved }
        // Step 4: Record-Route, doubled when the transport changes (RFC 5658).
        if recordRoute {
            // The dialog's two ends: where the request came from, where it goes.
            let token = DialogRouteToken.make(for: original, caller: origin,
                                              callee: SIPHostPort(host: nextHop.host, port: nextHop.port),
                                              calleeSource: nextHop.flowAddress)
            request.headers.insertFirst("Record-Route", identity.recordRouteURI(for: inbound, dialogToken: token))
            if nextHop.transport != inbound {
                request.headers.insertFirst("Record-Route", identity.recordRouteURI(for: nextHop.transport, dialogToken: token))
            }
        }
        // Step 8: our Via, with a loop-detecting branch.
        let branch = BranchParameter.make(loopHash: loopHash, seed: seed, fork: fork)
        let host = identity.advertisedHost(for: nextHop.transport)
        let sentBy = (host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]" : host) + ":\(identity.advertisedPort(for: nextHop.transport))"
        request.headers.insertFirst("Via", "SIP/2.0/\(nextHop.transport.viaToken) \(sentBy);branch=\(branch)")
        return ForwardedRequest(request: request, nextHop: nextHop, branch: branch)
    }
}
