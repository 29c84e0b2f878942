import SIPCore

/// What a UAS does with a request received in a dialog (RFC 3261 §12.2.2).
public enum DialogRequestCheck: Hashable, Sendable {
    /// Process it; the dialog has taken its CSeq number (and its Contact, for a target refresh).
    case accept
    /// Answer it with this status (500 for a request out of order, §12.2.2) and leave the
    /// dialog unchanged; drop an ACK instead (an ACK is never answered).
    case reject(status: Int, reason: String)
}

extension Dialog {
    /// Methods whose requests (and 2xx responses) update the remote target: INVITE and
    /// re-INVITE (RFC 3261 §12.2), UPDATE (RFC 3311 §5.1), SUBSCRIBE and NOTIFY
    /// (RFC 6665 §4.3).
    public static let targetRefreshMethods: Set<SIPMethod> = [.invite, .update, .subscribe, .notify]

    /// Header fields ``makeRequest(_:headers:body:maxForwards:)`` writes itself, so extra
    /// headers with these names are ignored (full and compact forms, lowercased).
    static let ownedHeaderNames: Set<String> = [
        "route", "max-forwards", "from", "f", "to", "t", "call-id", "i", "cseq", "content-length", "l", "via", "v",
    ]

    /// The URI to resolve (RFC 3263) to send a request in this dialog: the first route if
    /// there is a route set, else the remote target (§12.2.1.1, §8.1.2). For a strict first
    /// route this is also the Request-URI.
    public var nextHopURI: URI { routeSet.first?.uri ?? remoteTarget }

    /// A request in the dialog (RFC 3261 §12.2.1.1), numbered with the next local sequence
    /// number (which it takes, so call it once per request and send what it returns):
    /// - To = the remote URI with the remote tag, From = the local URI with the local tag,
    ///   Call-ID of the dialog, CSeq = the new local sequence number and `method`;
    /// - an empty route set: Request-URI = the remote target, no Route;
    /// - a loose first route (`lr`): Request-URI = the remote target, Route = the route set;
    /// - a strict first route: Request-URI = that route's URI without the parameters a
    ///   Request-URI may not carry (`method`, URI headers; §19.1.1), Route = the rest of the
    ///   route set and then the remote target;
    /// - Max-Forwards (§8.1.1.6), then `headers` (those named like the fields above, or Via
    ///   or Content-Length, are ignored), then `body`; the serializer writes Content-Length.
    ///
    /// No Via: the transaction layer pushes it (``SIPTransaction/TransactionLayer/start(_:to:pushVia:report:)``).
    ///
    /// ACK and CANCEL take no new number: an ACK for a 2xx carries its INVITE's number
    /// (§13.2.2.4; build it with ``makeACK(cseq:headers:body:maxForwards:)``, here it gets the
    /// current local sequence number), and a CANCEL is not a request in the dialog but in the
    /// INVITE's transaction (§9.1: ``SIPTransaction/ClientTransactionHandle/cancel()`` sends it).
    public mutating func makeRequest(_ method: SIPMethod, headers: [SIPHeaderField] = [], body: [UInt8] = [],
                                     maxForwards: Int = 70) -> SIPRequest {
        if method != .ack && method != .cancel { localSeq &+= 1 }
        return build(method, cseq: localSeq, headers: headers, body: body, maxForwards: maxForwards)
    }

    /// The ACK for a 2xx to the INVITE numbered `cseq` (RFC 3261 §13.2.2.4): built like any
    /// request in the dialog, with the INVITE's CSeq number and method ACK. It is sent outside
    /// any transaction (each retransmitted 2xx gets it again), so it needs its own Via.
    public func makeACK(cseq: UInt32, headers: [SIPHeaderField] = [], body: [UInt8] = [],
                        maxForwards: Int = 70) -> SIPRequest {
        build(.ack, cseq: cseq, headers: headers, body: body, maxForwards: maxForwards)
    }

    private func build(_ method: SIPMethod, cseq: UInt32, headers extra: [SIPHeaderField], body: [UInt8],
                       maxForwards: Int) -> SIPRequest {
        var requestURI = remoteTarget
        var routes = routeSet
        if let first = routeSet.first, first.uri.sipURI?.hasLR != true {
            // §12.2.1.1 strict routing: the first route becomes the Request-URI and the
            // remote target the last Route value.
            requestURI = Dialog.requestURI(first.uri)
            routes.removeFirst()
            routes.append(NameAddr(uri: remoteTarget))
        }
        var h = SIPHeaders()
        for route in routes { h.append("Route", route.description) }
        h.append("Max-Forwards", String(max(0, maxForwards)))
        var from = localURI
        from.tag = id.localTag
        var to = remoteURI
        to.tag = id.remoteTag
        h.append("From", from.description)
        h.append("To", to.description)
        h.append("Call-ID", id.callID)
        h.append("CSeq", "\(cseq) \(method.rawValue)")
        // No owned name is longer than 14 bytes (nor needs a lowercased copy to tell).
        for field in extra where field.name.utf8.count > 14 || !Dialog.ownedHeaderNames.contains(field.name.lowercased()) {
            h.append(field.name, field.value)
        }
        return SIPRequest(method: method, uri: requestURI, headers: h, body: body)
    }

    /// A route's URI as a Request-URI: without the `method` parameter and URI headers, which
    /// a Request-URI may not carry (§19.1.1, table 1).
    static func requestURI(_ uri: URI) -> URI {
        guard var sip = uri.sipURI else { return uri }
        sip.parameters.removeAll { $0.name.lowercased() == "method" }
        sip.headers = []
        return .sip(sip)
    }

    /// True when `request`, received by this element, belongs to this dialog (§12.2.2):
    /// same Call-ID, To tag = local tag, From tag = remote tag.
    public func matches(_ request: SIPRequest) -> Bool {
        DialogID(incoming: request) == id
    }

    /// Checks a request received in this dialog and takes its state from it (RFC 3261 §12.2.2):
    /// - a CSeq number lower than the remote sequence number, or equal to it, means out of
    ///   order: reject with 500 (the dialog is unchanged);
    /// - otherwise the remote sequence number becomes the request's (it is set when the
    ///   dialog had none, a UAC's dialog);
    /// - a target refresh request (``targetRefreshMethods``) with one Contact replaces the
    ///   remote target.
    ///
    /// ACK and CANCEL are accepted without the check and change nothing: the ACK of a 2xx
    /// carries its INVITE's number (§13.2.2.4), which is equal to the remote sequence
    /// number or, when requests crossed, lower; a CANCEL belongs to its INVITE's transaction.
    /// A request without a valid CSeq is rejected with 400.
    ///
    /// Call it with the dialog held (``DialogTable/withDialog(_:_:)``), so requests of one
    /// dialog are checked in order.
    public mutating func receive(_ request: SIPRequest) -> DialogRequestCheck {
        guard let cseq = try? request.cseq else { return .reject(status: 400, reason: "Bad Request") }
        if request.method == .ack || request.method == .cancel { return .accept }
        if let remoteSeq, cseq.sequence <= remoteSeq {
            return .reject(status: 500, reason: "Server Internal Error")
        }
        remoteSeq = cseq.sequence
        if Dialog.targetRefreshMethods.contains(request.method) { refreshTarget(from: request.contacts) }
        return .accept
    }

    /// Takes the new remote target from a 2xx `response` to our target refresh `request`
    /// (RFC 3261 §12.2.1.2; RFC 6665 §4.3). Other responses change nothing. A 481 or 408
    /// means the dialog is gone (§12.2.1.2): the caller removes it.
    public mutating func receiveResponse(_ response: SIPResponse, to request: SIPRequest) {
        guard (200..<300).contains(response.statusCode), Dialog.targetRefreshMethods.contains(request.method) else { return }
        refreshTarget(from: response.contacts)
    }

    private mutating func refreshTarget(from contacts: [ContactValue]) {
        if contacts.count == 1, let uri = contacts.first?.nameAddr?.uri { remoteTarget = uri }
    }
}
