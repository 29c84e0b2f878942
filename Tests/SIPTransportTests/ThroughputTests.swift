import Foundation
import NIOConcurrencyHelpers
import NIOCore
import SIPCore
import Testing
@testable import SIPTransport

/// Answers every request with 200 straight from the event loop (no transaction layer).
final class Echo200: SIPInboundHandler {
    let layer = NIOLockedValueBox<SIPTransportLayer?>(nil)
    func transportDidReceive(_ inbound: InboundMessage) {
        guard case .request(let request) = inbound.message, let layer = layer.withLockedValue({ $0 }) else { return }
        layer.sendResponseFuture(SIPResponse(responding: request, statusCode: 200), to: inbound).whenFailure { _ in }
    }
}

@Suite("Throughput (opt-in: SIP_TRANSPORT_BENCH=1)")
struct ThroughputTests {
    @Test("OPTIONS in, 200 out over one TCP connection on loopback",
          .enabled(if: ProcessInfo.processInfo.environment["SIP_TRANSPORT_BENCH"] != nil))
    func tcpRoundTrips() async throws {
        let echo = Echo200()
        let layer = try SIPTransportLayer()
        try await layer.start([ListenSpec(transport: .tcp, host: "127.0.0.1", port: 0)], handler: echo)
        echo.layer.withLockedValue { $0 = layer }
        defer { Task { await layer.shutdown() } }
        let client = try await RawStreamClient.connect(to: layer.endpoint(.tcp).address)
        let total = 50_000
        let batch = 100
        let start = ContinuousClock.now
        let reader = Task {
            var seen = 0
            var tail = ""
            for await chunk in client.collector.text {
                let text = tail + chunk
                seen += text.components(separatedBy: "SIP/2.0 200").count - 1
                tail = String(text.suffix(10))
                if seen >= total { break }
            }
            return seen
        }
        for b in 0..<(total / batch) {
            var bytes: [UInt8] = []
            for i in 0..<batch { bytes += Sample.options(via: "TCP 127.0.0.1:5060", callID: "bench-\(b)-\(i)") }
            try await client.send(bytes)
        }
        let seen = await reader.value
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("transport TCP round trips: \(seen) in \(seconds) s = \(Int(Double(seen) / seconds)) msg/s")
        #expect(seen == total)
    }
}
