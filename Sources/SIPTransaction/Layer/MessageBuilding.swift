import SIPCore
import SIPTransport

/// Messages the transaction layer builds itself.
enum MessageBuilding {
    /// A fresh RFC 3261 branch: the magic cookie and 64 random bits (§8.1.1.7).
    static func newBranch() -> String {
        sipMagicCookie + lowercaseHex(KernelRandom.next(), digits: 16)
    }

    /// A fresh tag (§19.3): 64 random bits.
    static func newTag() -> String { lowercaseHex(KernelRandom.next(), digits: 16) }

    /// Pushes our Via (§8.1.1.7, §16.6 step 8): `SIP/2.0/<transport> <sent-by>;branch=...`,
    /// with `rport` (RFC 3581) on unreliable transports.
    static func pushVia(on request: inout SIPRequest, transport: SIPTransportKind, sentBy: SIPHostPort, branch: String) {
        var value = "SIP/2.0/\(transport.viaToken) \(sentBy);branch=\(branch)"
        if !transport.isReliable { value += ";rport" }
        request.headers.insertFirst("Via", value)
    }

    /// RFC 3261 §18.1.1: a request larger than 1300 bytes bound for UDP (path MTU unknown)
    /// must go over a congestion-controlled transport. Returns TCP, with the top Via (ours)
    /// changed to say so, when `request` is too large for UDP; else nil.
    static func congestionControlledTransport(for request: inout SIPRequest, destination: SIPDestination) -> SIPTransportKind? {
        guard destination.transport == .udp, destination.flowID == nil,
              SIPTransportLayer.shouldUseCongestionControlledTransport(messageSize: request.serializedSizeBound),
              SIPTransportLayer.shouldUseCongestionControlledTransport(messageSize: request.serialized().count) else { return nil }
        guard let index = request.headers.firstIndex(where: { $0.name.lowercased() == "via" || $0.name.lowercased() == "v" }),
              request.headers[index].value.hasPrefix("SIP/2.0/UDP ") else { return nil }
        var field = request.headers[index]
        field.value = "SIP/2.0/TCP " + field.value.dropFirst("SIP/2.0/UDP ".count)
        request.headers.setField(at: index, field)
        return .tcp
    }

    /// The ACK a client INVITE transaction sends for a non-2xx final response
    /// (§17.1.1.3): Request-URI, Call-ID, From, CSeq number and Route of the INVITE, the top
    /// Via of the INVITE only, To of the response.
    static func ack(for invite: SIPRequest, response: SIPResponse) -> SIPRequest {
        var headers = SIPHeaders()
        if let via = invite.headers["Via"].first { headers.append("Via", via) }
        copy(["Max-Forwards"], from: invite.headers, to: &headers)
        for route in invite.headers["Route"] { headers.append("Route", route) }
        copy(["From"], from: invite.headers, to: &headers)
        if let to = response.headers.first("To") { headers.append("To", to) }
        copy(["Call-ID"], from: invite.headers, to: &headers)
        let number = (try? invite.cseq)?.sequence ?? 1
        headers.append("CSeq", "\(number) ACK")
        headers.append("Content-Length", "0")
        return SIPRequest(method: .ack, uri: invite.uri, headers: headers, body: [])
    }

    /// The CANCEL for a pending INVITE (§9.1): same Request-URI, Call-ID, To, From, CSeq
    /// number and top Via (so the same branch), Route of the INVITE.
    static func cancel(for invite: SIPRequest) -> SIPRequest {
        var headers = SIPHeaders()
        if let via = invite.headers["Via"].first { headers.append("Via", via) }
        headers.append("Max-Forwards", "70")
        for route in invite.headers["Route"] { headers.append("Route", route) }
        copy(["From", "To", "Call-ID"], from: invite.headers, to: &headers)
        let number = (try? invite.cseq)?.sequence ?? 1
        headers.append("CSeq", "\(number) CANCEL")
        headers.append("Content-Length", "0")
        return SIPRequest(method: .cancel, uri: invite.uri, headers: headers, body: [])
    }

    /// 100 Trying (§8.2.6.1): no To tag, Timestamp copied.
    static func trying(for request: SIPRequest) -> SIPResponse {
        var response = SIPResponse(responding: request, statusCode: 100)
        if let timestamp = request.headers.first("Timestamp") { response.headers.append("Timestamp", timestamp) }
        return response
    }

    private static func copy(_ names: [String], from source: SIPHeaders, to target: inout SIPHeaders) {
        for name in names {
            if let value = source.first(name) { target.append(name, value) }
        }
    }
}
