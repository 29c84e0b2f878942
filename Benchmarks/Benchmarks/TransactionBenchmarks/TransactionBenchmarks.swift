import Benchmark
import SIPCore
import SIPTransaction
import SIPTransport

/// Non-INVITE server transactions through the transaction layer (RFC 3261 §17.2.2): an
/// inbound request, its TU event, the TU's 200 sent back through the machine. One core,
/// no sockets (a transport that drops what it is given). Throughput = transactions/s.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.throughput, .wallClock, .mallocCountTotal],
                                           scalingFactor: .kilo, maxDuration: .seconds(10))

    for kind in [SIPTransportKind.tcp, .udp] {
        Benchmark("Non-INVITE server transactions (\(kind))") { benchmark in
            let layer = TransactionLayer(transport: NullTransport())
            var events = layer.events.makeAsyncIterator()
            let source = SIPMessageSource(transport: kind, remote: SIPHostPort(host: "198.51.100.7", port: 5062))
            let requests = (0..<benchmark.scaledIterations.count).map { makeRequest(branch: "z9hG4bK\(kind)\($0)") }
            benchmark.startMeasurement()
            for request in requests {
                await layer.receive(.request(request), from: source)
                guard case .request(let transaction) = await events.next() else { fatalError("no TU event") }
                try? await transaction.respond(200)
            }
            benchmark.stopMeasurement()
        }
    }
}

struct NullTransport: TransactionTransport {
    func send(_ request: SIPRequest, to destination: SIPDestination, onFailure: @escaping @Sendable (SIPTransactionError) -> Void) {}
    func send(_ response: SIPResponse, replyingTo source: SIPMessageSource, onFailure: @escaping @Sendable (SIPTransactionError) -> Void) {}
    func sentBy(for destination: SIPDestination) -> SIPHostPort { SIPHostPort(host: "192.0.2.1", port: 5060) }
}

func makeRequest(branch: String) -> SIPRequest {
    var request = SIPRequest(method: .message, uri: URI("sip:bob@server.example")!)
    request.headers.append("Via", "SIP/2.0/UDP 198.51.100.7:5062;branch=\(branch);received=198.51.100.7;rport=5062")
    request.headers.append("Max-Forwards", "70")
    request.headers.append("From", "<sip:alice@client.example>;tag=1928301774")
    request.headers.append("To", "<sip:bob@server.example>")
    request.headers.append("Call-ID", "\(branch)@client.example")
    request.headers.append("CSeq", "1 MESSAGE")
    request.headers.append("Content-Length", "0")
    return request
}
