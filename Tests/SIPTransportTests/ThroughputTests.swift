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
        guard case .request(let request) = inbound.message, request.method != .ack, let layer = layer.withLockedValue({ $0 }) else { return }
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

@Suite("PROTOS c07-sip replay against the bare transport (opt-in: SIP_PROTOS=udp|tcp)")
struct ProtosReplayTests {
    @Test("every case survived", .enabled(if: ProcessInfo.processInfo.environment["SIP_PROTOS"] != nil),
          .timeLimit(.minutes(30)))
    func replay() async throws {
        let transport = ProcessInfo.processInfo.environment["SIP_PROTOS"] ?? "udp"
        let kind = try #require(SIPTransportKind(rawValue: transport))
        let echo = Echo200()
        let layer = try SIPTransportLayer()
        try await layer.start([ListenSpec(transport: kind, host: "127.0.0.1", port: 0)], handler: echo)
        echo.layer.withLockedValue { $0 = layer }
        defer { Task { await layer.shutdown() } }
        let tool = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/tools/protos-replay")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", tool.path, "--target", "127.0.0.1:\(layer.listeners[0].port)", "--transport", transport]
            + (ProcessInfo.processInfo.environment["SIP_PROTOS_ARGS"]?.split(separator: " ").map(String.init) ?? [])
        try process.run()
        while process.isRunning { try await Task.sleep(for: .milliseconds(200)) }
        #expect(process.terminationStatus == 0)
    }
}
