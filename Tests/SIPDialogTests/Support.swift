import SIPCore
import Synchronization
import SIPTransaction

/// Parses wire text (LF line ends turned into CRLF).
func message(_ text: String) -> SIPMessage {
    let wire = text.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\r\n")
    do {
        return try SIPParser.parseDatagram(Array(wire.utf8))
    } catch {
        fatalError("test message does not parse: \(error)\n\(text)")
    }
}

func parseRequest(_ text: String) -> SIPRequest {
    guard case .request(let r) = message(text) else { fatalError("not a request") }
    return r
}

func parseResponse(_ text: String) -> SIPResponse {
    guard case .response(let r) = message(text) else { fatalError("not a response") }
    return r
}

/// A SUBSCRIBE as the notifier receives it through two record-routing proxies
/// (proxy2 nearest to us).
func subscribe(recordRoutes: [String] = ["<sip:proxy2.example;transport=tcp;lr>", "<sip:proxy1.example;lr>"],
               contact: String? = "<sip:bob@198.51.100.7:5062>", fromTag: String? = "bobtag",
               uri: String = "sip:alice@home.example", cseq: Int = 7) -> SIPRequest {
    var lines = [
        "SUBSCRIBE \(uri) SIP/2.0",
        "Via: SIP/2.0/TCP proxy2.example;branch=z9hG4bKp2",
        "Via: SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bKc1",
        "Max-Forwards: 68",
    ]
    lines += recordRoutes.map { "Record-Route: \($0)" }
    lines += [
        "From: \"Bob\" <sip:bob@client.example>" + (fromTag.map { ";tag=\($0)" } ?? ""),
        "To: <sip:alice@home.example>",
        "Call-ID: sub1@client.example",
        "CSeq: \(cseq) SUBSCRIBE",
    ]
    if let contact { lines.append("Contact: \(contact)") }
    lines += ["Event: presence", "Expires: 600", "Content-Length: 0", "", ""]
    return parseRequest(lines.joined(separator: "\n"))
}

/// A request the notifier receives in the dialog of `subscribe()` (To tag = ours).
func inDialog(_ method: String, cseq: Int, localTag: String = "ourtag", contact: String? = nil) -> SIPRequest {
    var lines = [
        "\(method) sip:alice@192.0.2.1:5060 SIP/2.0",
        "Via: SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bKin\(cseq)\(method)",
        "Max-Forwards: 70",
        "From: \"Bob\" <sip:bob@client.example>;tag=bobtag",
        "To: <sip:alice@home.example>;tag=\(localTag)",
        "Call-ID: sub1@client.example",
        "CSeq: \(cseq) \(method)",
    ]
    if let contact { lines.append("Contact: \(contact)") }
    lines += ["Content-Length: 0", "", ""]
    return parseRequest(lines.joined(separator: "\n"))
}

/// A transport that records what the layer sends (no sockets).
final class FakeTransport: TransactionTransport {
    private let sentRequests = Mutex<[(SIPRequest, SIPDestination)]>([])

    var sent: [(SIPRequest, SIPDestination)] { sentRequests.withLock { $0 } }

    func send(_ request: SIPRequest, to destination: SIPDestination, onFailure: @escaping @Sendable (SIPTransactionError) -> Void) {
        sentRequests.withLock { $0.append((request, destination)) }
    }
    func send(_ response: SIPResponse, replyingTo source: SIPMessageSource, onFailure: @escaping @Sendable (SIPTransactionError) -> Void) {}
    func sentBy(for destination: SIPDestination) -> SIPHostPort { SIPHostPort(host: "192.0.2.1", port: 5060) }
}
