import NIOCore
import SIPCore
import Testing
@testable import SIPTransport

@Suite("Flows: caps, idle timeout, back-pressure")
struct FlowTests {
    @Test("connections past the per-IP cap are refused; a freed slot is usable again")
    func perIPCap() async throws {
        var config = SIPTransportConfiguration()
        config.maxConnectionsPerIP = 2
        let (server, inbox) = try await startLayer(["tcp:127.0.0.1:0"], configuration: config)
        defer { Task { await server.shutdown() } }
        let address = server.endpoint(.tcp).address
        let a = try await RawStreamClient.connect(to: address)
        let b = try await RawStreamClient.connect(to: address)
        // Both admitted ones work.
        try await a.send(Sample.options(via: "TCP 127.0.0.1:1", callID: "a"))
        try await b.send(Sample.options(via: "TCP 127.0.0.1:1", callID: "b"))
        _ = try #require(await inbox.next())
        _ = try #require(await inbox.next())
        let c = try await RawStreamClient.connect(to: address)
        #expect(await c.closedByPeer().closed, "the third connection is closed at once")
        try await a.channel.close()
        // The slot comes back once the server has seen the close.
        var admitted = false
        for _ in 0..<100 where !admitted {
            let d = try await RawStreamClient.connect(to: address)
            try? await d.send(Sample.options(via: "TCP 127.0.0.1:1", callID: "d"))
            if await inbox.next(timeout: .seconds(2)) != nil { admitted = true }
            d.channel.close(promise: nil)
        }
        #expect(admitted)
        b.channel.close(promise: nil)
    }

    @Test("the total cap applies across addresses")
    func totalCap() async throws {
        var config = SIPTransportConfiguration()
        config.maxConnections = 1
        let (server, inbox) = try await startLayer(["tcp:127.0.0.1:0"], configuration: config)
        defer { Task { await server.shutdown() } }
        let a = try await RawStreamClient.connect(to: server.endpoint(.tcp).address)
        defer { a.channel.close(promise: nil) }
        // Accepted sockets are set up on different event loops: wait until `a` is in.
        try await a.send(Sample.options(via: "TCP 127.0.0.1:1", callID: "a"))
        _ = try #require(await inbox.next())
        let b = try await RawStreamClient.connect(to: server.endpoint(.tcp).address)
        #expect(await b.closedByPeer().closed)
        #expect(a.channel.isActive)
    }

    @Test("an idle connection is closed and reported as a closed flow")
    func idleTimeout() async throws {
        var config = SIPTransportConfiguration()
        config.idleTimeout = .milliseconds(300)
        let (server, inbox) = try await startLayer(["tcp:127.0.0.1:0"], configuration: config)
        defer { Task { await server.shutdown() } }
        let client = try await RawStreamClient.connect(to: server.endpoint(.tcp).address)
        #expect(await client.closedByPeer().closed)
        #expect(await eventually { !inbox.closedConnections.isEmpty }, "reported as a closed flow")
        #expect(server.connectionCount == 0)
    }

    @Test("traffic keeps a connection open past the idle timeout, and silence then closes it")
    func idleTimeoutCountsTraffic() async throws {
        var config = SIPTransportConfiguration()
        config.idleTimeout = .seconds(2)
        let (server, inbox) = try await startLayer(["tcp:127.0.0.1:0"], configuration: config)
        defer { Task { await server.shutdown() } }
        // 20 x 200 ms: twice the idle timeout, a message read every 200 ms and nothing written
        // (a keepalive ping would be answered, and a write counts too). A loaded machine can
        // stall the test or the server's loop for longer than the timeout, and the server then
        // closes the connection rightly: the pattern is tried on a new connection, up to four
        // times. A server that ignores traffic closes it in every attempt.
        var client = try await RawStreamClient.connect(to: server.endpoint(.tcp).address)
        var attempts = 1
        attempt: while true {
            for i in 0..<20 {
                var read = false
                do {
                    try await client.send(Sample.options(via: "TCP 127.0.0.1:1", callID: "busy-\(attempts)-\(i)"))
                    read = await inbox.next(timeout: .seconds(5)) != nil
                } catch {}
                if !read || !client.channel.isActive {
                    guard attempts < 4 else {
                        Issue.record("closed while traffic flowed, in all \(attempts) attempts (message \(i))")
                        return
                    }
                    attempts += 1
                    client = try await RawStreamClient.connect(to: server.endpoint(.tcp).address)
                    continue attempt
                }
                try await Task.sleep(for: .milliseconds(200))
            }
            break
        }
        #expect(client.channel.isActive, "closed while traffic flowed")
        let silence = ContinuousClock.now
        #expect(await client.closedByPeer().closed)
        #expect(ContinuousClock.now - silence >= .milliseconds(1500), "closed before the idle timeout")
    }

    @Test("a peer that stops reading cannot make the server buffer without bound")
    func backpressure() async throws {
        var config = SIPTransportConfiguration()
        config.maxBufferedOutboundBytes = 64 * 1024
        let (server, inbox) = try await startLayer(["tcp:127.0.0.1:0"], configuration: config)
        defer { Task { await server.shutdown() } }
        let client = try await RawStreamClient.connect(to: server.endpoint(.tcp).address, autoRead: false)
        defer { client.channel.close(promise: nil) }
        try await client.send(Sample.options(via: "TCP 127.0.0.1:1"))
        let inbound = try #require(await inbox.next())
        let big = try SIPParser.parseDatagram(Sample.options(via: "TCP 127.0.0.1:1", body: String(repeating: "x", count: 8192)))
        // 4000 x 8 KiB = 32 MiB, far beyond what the kernel buffers for a peer that never reads.
        let futures = (0..<4000).map { _ in server.sendFuture(big, to: inbound.source) }
        var errors: [SIPTransportError.Code] = []
        for future in futures {
            do { try await future.get() } catch { errors.append(SIPTransportLayer.transportError(error).code) }
        }
        #expect(errors.contains(.backpressure))
        #expect(await eventually { server.connectionCount == 0 }, "the server dropped the connection")
    }
}

/// Polls `condition` until it holds, up to a generous limit.
func eventually(_ limit: Duration = .seconds(20), _ condition: @escaping @Sendable () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}
