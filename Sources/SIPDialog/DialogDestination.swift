import SIPCore
import SIPTransaction
import SIPTransport

/// Where a request in a dialog goes: RFC 3263 without DNS, for the next hop URI of a
/// dialog (``Dialog/nextHopURI``), which is nearly always a Contact or Record-Route URI
/// with a numeric host or a host the system resolves.
///
/// The proxy's next hop (Roles' `NextHop(uri:)`, RFC 3261 §16.6 step 7) uses these rules too.
public enum DialogDestination {
    /// The destination for `uri` (RFC 3263 §4.1 and §4.2 without NAPTR/SRV lookups):
    /// - transport: TLS for a sips URI (§26.2.2), else the `transport` parameter (`udp`,
    ///   `tcp`, `tls`), else UDP; an unknown `transport` value (sctp, ws) falls back to UDP
    ///   as the proxy's rule does;
    /// - host: the `maddr` parameter when present (§19.1.1), else the URI's host; lowercased,
    ///   IPv6 references without brackets;
    /// - port: the URI's port, else the transport's default (5060, 5061 for TLS).
    ///
    /// `flowID` and `flowAddress` name a flow to reuse (RFC 5626 §5.3: the connection the
    /// dialog's requests came over): the transport uses it while it is open and leads to
    /// `flowAddress` (or, without one, to the resolved address), else it sends to the
    /// resolved address. `flowAddress` is ignored without `flowID`.
    ///
    /// Nil for a URI that is not sip or sips (tel, other schemes).
    public static func resolve(_ uri: URI, flowID: UInt64? = nil, flowAddress: SIPHostPort? = nil) -> SIPDestination? {
        guard let sip = uri.sipURI else { return nil }
        var transport = SIPTransportKind.udp
        if sip.secure {
            transport = .tls
        } else if let name = sip.transport, let known = SIPTransportKind(rawValue: name) {
            transport = known
        }
        let host = bareHost(sip.maddr ?? sip.host)
        guard !host.isEmpty else { return nil }
        return SIPDestination(transport: transport, address: SIPHostPort(host: host, port: sip.port ?? transport.defaultPort),
                              flowID: flowID, flowAddress: flowID == nil ? nil : flowAddress)
    }

    /// A host lowercased, an IPv6 reference without its brackets, a fully qualified name
    /// without its trailing dot (`example.com.` is `example.com`).
    public static func bareHost(_ host: String) -> String {
        var h = host.lowercased()
        if h.hasPrefix("["), h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        if h.count > 1, h.hasSuffix(".") { h.removeLast() }
        return h
    }
}

/// Sends requests in a dialog through the transaction layer (RFC 3261 §12.2.1.1, §17.1).
public enum DialogSender {
    /// Starts a client transaction for `request` (built with
    /// ``Dialog/makeRequest(_:headers:body:maxForwards:)``) towards the dialog's next hop
    /// (``Dialog/nextHopURI`` resolved with ``DialogDestination/resolve(_:flowID:flowAddress:)``).
    /// The layer pushes our Via with a new branch. What happens to the transaction is
    /// reported to `report`, synchronously on the thread that caused it, ending with
    /// `.terminated` (see ``SIPTransaction/TransactionLayer/start(_:to:pushVia:report:)``);
    /// pass 2xx responses to ``Dialog/receiveResponse(_:to:)`` for target refresh.
    ///
    /// Throws when the next hop is not a SIP URI (`.unresolvableTarget`) or the layer refuses
    /// the request (`.transactionFailed`, with the layer's status, 503 when it is full).
    @discardableResult
    public static func send(_ request: SIPRequest, in dialog: Dialog, layer: TransactionLayer, flowID: UInt64? = nil,
                            flowAddress: SIPHostPort? = nil,
                            report: @escaping @Sendable (ClientTransactionReport) -> Void) throws(DialogError) -> ClientTransactionHandle {
        let hop = dialog.nextHopURI
        guard let destination = DialogDestination.resolve(hop, flowID: flowID, flowAddress: flowAddress) else {
            throw DialogError(.unresolvableTarget, "cannot send to \(hop)")
        }
        do {
            return try layer.start(request, to: destination, report: report)
        } catch {
            throw DialogError(.transactionFailed, error.reason, status: error.status)
        }
    }
}
