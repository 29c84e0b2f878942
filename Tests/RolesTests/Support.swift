import SIPCore
@testable import Roles

/// Parses `text` (LF line ends become CRLF) as one request.
func request(_ text: String) throws -> SIPRequest {
    let wire = text.replacing("\n", with: "\r\n")
    guard case .request(let r) = try SIPParser.parseDatagram(Array(wire.utf8)) else {
        throw RolesError(.invalidRequest, "not a request")
    }
    return r
}

func response(_ status: Int, to request: SIPRequest, headers: [(String, String)] = []) -> SIPResponse {
    var r = SIPResponse(responding: request, statusCode: status, toTag: status > 100 ? "callee" : nil)
    for (n, v) in headers { r.headers.append(n, v) }
    return r
}

let identity = ProxyIdentity(serverName: "proxy.example.com", domains: ["example.com"],
                             listeners: [ListenAddress(transport: .udp, host: "192.0.2.10", port: 5060),
                                         ListenAddress(transport: .tcp, host: "192.0.2.10", port: 5060)])

func invite(uri: String = "sip:bob@example.com", maxForwards: String? = "70", extra: String = "") throws -> SIPRequest {
    let mf = maxForwards.map { "Max-Forwards: \($0)\n" } ?? ""
    return try request("""
    INVITE \(uri) SIP/2.0
    Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKclient1
    \(mf)From: <sip:alice@example.com>;tag=a1
    To: <sip:bob@example.com>
    Call-ID: call-1@198.51.100.1
    CSeq: 1 INVITE
    Contact: <sip:alice@198.51.100.1>
    \(extra)Content-Length: 0


    """)
}
