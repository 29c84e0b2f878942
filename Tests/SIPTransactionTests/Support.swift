import SIPCore
import Synchronization
@testable import SIPTransaction

/// A clock tests move by hand.
final class ManualClock: Sendable {
    private let instant = Mutex(SIPInstant.origin)
    var now: SIPInstant { instant.withLock { $0 } }
    func advance(by duration: Duration) { instant.withLock { $0 = $0 + duration } }
    var source: @Sendable () -> SIPInstant { { self.now } }
}

/// A transport that records what the layer sends and can fail sends on request.
final class FakeTransport: SIPServerTransport {
    enum Sent: Sendable {
        case request(SIPRequest, SIPDestination)
        case response(SIPResponse, SIPMessageSource)
        var request: SIPRequest? { if case .request(let r, _) = self { r } else { nil } }
        var response: SIPResponse? { if case .response(let r, _) = self { r } else { nil } }
    }
    private let state = Mutex<(sent: [Sent], failSends: Bool, listening: Bool)>(([], false, true))
    private let inbound: AsyncStream<(SIPMessage, SIPMessageSource)>
    private let inboundSink: AsyncStream<(SIPMessage, SIPMessageSource)>.Continuation
    let localHosts: Set<String> = ["127.0.0.1", "server.example"]

    init() { (inbound, inboundSink) = AsyncStream.makeStream() }

    var sent: [Sent] { state.withLock { $0.sent } }
    var sentResponses: [SIPResponse] { sent.compactMap(\.response) }
    var sentRequests: [SIPRequest] { sent.compactMap(\.request) }
    func failSends(_ fail: Bool) { state.withLock { $0.failSends = fail } }
    func clear() { state.withLock { $0.sent.removeAll() } }

    func send(_ request: SIPRequest, to destination: SIPDestination, onFailure: @escaping @Sendable (SIPTransactionError) -> Void) {
        let fail = state.withLock { s in s.sent.append(.request(request, destination)); return s.failSends }
        if fail { onFailure(SIPTransactionError(.transportError, "fake failure")) }
    }
    func send(_ response: SIPResponse, replyingTo source: SIPMessageSource, onFailure: @escaping @Sendable (SIPTransactionError) -> Void) {
        let fail = state.withLock { s in s.sent.append(.response(response, source)); return s.failSends }
        if fail { onFailure(SIPTransactionError(.transportError, "fake failure")) }
    }
    func sentBy(for destination: SIPDestination) -> SIPHostPort { SIPHostPort(host: "192.0.2.1", port: 5060) }

    /// Delivers a message as if it had arrived.
    func inject(_ message: SIPMessage, from source: SIPMessageSource = .udpPeer) { inboundSink.yield((message, source)) }
    func run(deliver: @escaping @Sendable (SIPMessage, SIPMessageSource) async -> Void) async throws {
        for await (message, source) in inbound { await deliver(message, source) }
    }
    func stopListening() async { state.withLock { $0.listening = false } }
    func shutdown() async { inboundSink.finish() }
    var listening: Bool { state.withLock { $0.listening } }
}

extension SIPMessageSource {
    static let udpPeer = SIPMessageSource(transport: .udp, remote: SIPHostPort(host: "198.51.100.7", port: 5062))
    static let tcpPeer = SIPMessageSource(transport: .tcp, remote: SIPHostPort(host: "198.51.100.7", port: 40000), flowID: 9)
}

/// Parses wire text (LF line ends turned into CRLF).
func message(_ text: String) -> SIPMessage {
    let wire = text.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\r\n")
    do {
        return try SIPParser.parseDatagram(Array(wire.utf8))
    } catch {
        fatalError("test message does not parse: \(error)\n\(text)")
    }
}

func request(_ method: String = "OPTIONS", uri: String = "sip:server.example", branch: String = "z9hG4bKabc1",
             cseq: Int = 1, cseqMethod: String? = nil, toTag: String? = nil, extra: String = "") -> SIPRequest {
    let to = toTag.map { "<sip:bob@server.example>;tag=\($0)" } ?? "<sip:bob@server.example>"
    let text = """
    \(method) \(uri) SIP/2.0
    Via: SIP/2.0/UDP 198.51.100.7:5062;branch=\(branch)
    Max-Forwards: 70
    From: <sip:alice@client.example>;tag=fromtag1
    To: \(to)
    Call-ID: call-\(branch)@client.example
    CSeq: \(cseq) \(cseqMethod ?? method)
    \(extra)Content-Length: 0


    """
    guard case .request(let r) = message(text) else { fatalError("not a request") }
    return r
}

func response(to request: SIPRequest, _ code: Int, toTag: String? = "totag9") -> SIPResponse {
    SIPResponse(responding: request, statusCode: code, toTag: code == 100 ? nil : toTag)
}

/// Next TU event, or nil if none arrives (the stream is finished by the caller first).
func nextEvent(_ iterator: inout AsyncStream<TransactionUserEvent>.AsyncIterator) async -> TransactionUserEvent? {
    await iterator.next()
}
