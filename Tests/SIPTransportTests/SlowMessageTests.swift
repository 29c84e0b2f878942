import NIOCore
import NIOEmbedded
import SIPCore
import Testing
@testable import SIPTransport

/// The slow-header defence (issue 7, "bounded everywhere"): a started message must complete
/// within `messageCompletionTimeout`, an accepted connection must deliver its first message
/// within `firstMessageTimeout`; RFC 5626 §3.5.1 keepalives are not started messages.
@Suite("Slow messages (slowloris) and first-message deadline")
struct SlowMessageTests {
    static func config(completion: TimeAmount = .seconds(1), first: TimeAmount = .seconds(60)) -> SIPTransportConfiguration {
        var config = SIPTransportConfiguration()
        config.messageCompletionTimeout = completion
        config.firstMessageTimeout = first
        return config
    }

    /// The start line and headers of an OPTIONS, without the empty line that ends them.
    static let headerLines: [String] = {
        let text = String(decoding: Sample.options(via: "TCP 127.0.0.1:1", callID: "slow"), as: UTF8.self)
        return text.components(separatedBy: "\r\n").filter { !$0.isEmpty }.map { $0 + "\r\n" }
    }()

    // MARK: EmbeddedChannel, manual clock

    @Test("a started message not complete within the limit closes the connection")
    func startedMessageTimesOut() throws {
        let inbox = SyncInbox()
        let channel = try makeStreamChannel(inbox: inbox, configuration: Self.config())
        for line in Self.headerLines {
            try channel.writeInbound(ByteBuffer(string: line))
            channel.embeddedEventLoop.advanceTime(by: .milliseconds(100))  // 8 lines: 0.8 s, inside the limit
        }
        #expect(channel.isActive, "still inside the limit")
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(!channel.isActive, "the message started over a second ago")
        #expect(inbox.messages.isEmpty)
        #expect(inbox.closedConnections == [SIPConnectionID(rawValue: 1)])
    }

    @Test("complete messages and keepalive pings never trip the message deadline")
    func completeMessagesAndPings() throws {
        let inbox = SyncInbox()
        let channel = try makeStreamChannel(inbox: inbox, configuration: Self.config())
        for i in 0..<5 {
            // A message split across two reads, completed quickly.
            let bytes = Sample.options(via: "TCP 192.0.2.7:5070", callID: "m\(i)")
            try channel.writeInbound(ByteBuffer(bytes: bytes[..<40]))
            channel.embeddedEventLoop.advanceTime(by: .milliseconds(500))
            try channel.writeInbound(ByteBuffer(bytes: bytes[40...]))
            // Then pings, and half a ping, for longer than the limit.
            for _ in 0..<3 {
                try channel.writeInbound(ByteBuffer(string: "\r\n\r\n"))
                channel.embeddedEventLoop.advanceTime(by: .milliseconds(600))
            }
            try channel.writeInbound(ByteBuffer(string: "\r\n"))
            channel.embeddedEventLoop.advanceTime(by: .seconds(2))
            try channel.writeInbound(ByteBuffer(string: "\r\n"))
        }
        #expect(channel.isActive)
        #expect(inbox.messages.count == 5)
    }

    @Test("an accepted connection that sends no complete message is closed; an outbound one is not")
    func firstMessageDeadline() throws {
        let inbound = try makeStreamChannel(inbox: SyncInbox(), configuration: Self.config(completion: .seconds(60), first: .seconds(1)))
        let outbound = try makeStreamChannel(inbox: SyncInbox(), configuration: Self.config(completion: .seconds(60), first: .seconds(1)),
                                             inbound: false)
        for channel in [inbound, outbound] {
            try channel.writeInbound(ByteBuffer(string: "\r\n\r\n"))  // pings do not count
            channel.embeddedEventLoop.advanceTime(by: .milliseconds(1100))
        }
        #expect(!inbound.isActive)
        #expect(outbound.isActive)

        let served = try makeStreamChannel(inbox: SyncInbox(), configuration: Self.config(completion: .seconds(60), first: .seconds(1)))
        try served.writeInbound(ByteBuffer(bytes: Sample.options(via: "TCP 192.0.2.7:5070")))
        served.embeddedEventLoop.advanceTime(by: .seconds(5))
        #expect(served.isActive, "a connection that delivered a message stays (until idle)")
    }

    // MARK: Real sockets

    @Test("TCP: a peer trickling header lines is disconnected after messageCompletionTimeout")
    func slowlorisOverTCP() async throws {
        let (server, inbox) = try await startLayer(["tcp:127.0.0.1:0"], configuration: Self.config())
        defer { Task { await server.shutdown() } }
        let client = try await RawStreamClient.connect(to: server.endpoint(.tcp).address)
        defer { client.channel.close(promise: nil) }
        try await client.send(Sample.options(via: "TCP 127.0.0.1:1", callID: "first"))
        _ = try #require(await inbox.next())
        let started = ContinuousClock.now
        let lines = Self.headerLines
        let trickle = Task {
            // One header line every 300 ms, for up to ~ 30 s, never the empty line (the limit is
            // 1 s; the generous wait below only absorbs a loaded machine).
            for i in 0..<100 {
                guard client.channel.isActive else { return }
                try? await client.send(Array(lines[i % lines.count].utf8))
                try? await Task.sleep(for: .milliseconds(300))
            }
        }
        defer { trickle.cancel() }
        let result = await client.closedByPeer(timeout: .seconds(25))
        #expect(result.closed, "the server closed the trickling connection")
        #expect(ContinuousClock.now - started >= .milliseconds(900), "not before the limit")
        #expect(await eventually { server.connectionCount == 0 })
    }

    @Test("TLS: a peer trickling header lines is disconnected after messageCompletionTimeout")
    func slowlorisOverTLS() async throws {
        let pki = try PKI()
        var config = Self.config()
        config.tls = try pki.server.settings()
        let (server, inbox) = try await startLayer(["tls:127.0.0.1:0"], configuration: config)
        defer { Task { await server.shutdown() } }
        let client = try await RawStreamClient.connect(to: server.endpoint(.tls).address,
                                                       tls: try pki.rawClientConfiguration(identity: nil), serverHostname: "server.test")
        defer { client.channel.close(promise: nil) }
        try await client.send(Sample.options(via: "TLS 127.0.0.1:1", callID: "first"))
        _ = try #require(await inbox.next())
        let lines = Self.headerLines
        let trickle = Task {
            for i in 0..<100 {
                guard client.channel.isActive else { return }
                try? await client.send(Array(lines[i % lines.count].utf8))
                try? await Task.sleep(for: .milliseconds(300))
            }
        }
        defer { trickle.cancel() }
        #expect(await client.closedByPeer(timeout: .seconds(25)).closed)
    }

    @Test("TCP: a connection that never completes a first message is closed after firstMessageTimeout")
    func silentConnection() async throws {
        let (server, _) = try await startLayer(["tcp:127.0.0.1:0"], configuration: Self.config(first: .seconds(1)))
        defer { Task { await server.shutdown() } }
        let client = try await RawStreamClient.connect(to: server.endpoint(.tcp).address)
        defer { client.channel.close(promise: nil) }
        try? await client.send(Array("\r\n\r\n".utf8))  // a keepalive is not a message
        #expect(await client.closedByPeer(timeout: .seconds(10)).closed)
    }

    @Test("TCP: keepalive pings on a registered flow keep it open past the message deadline")
    func pingsKeepFlow() async throws {
        let (server, inbox) = try await startLayer(["tcp:127.0.0.1:0"], configuration: Self.config())
        defer { Task { await server.shutdown() } }
        let client = try await RawStreamClient.connect(to: server.endpoint(.tcp).address)
        defer { client.channel.close(promise: nil) }
        try await client.send(Sample.options(via: "TCP 127.0.0.1:1", callID: "register"))
        _ = try #require(await inbox.next())
        for _ in 0..<8 {
            try await client.send(Array("\r\n\r\n".utf8))
            try await Task.sleep(for: .milliseconds(300))
        }
        #expect(client.channel.isActive)
        #expect(await client.read(until: { $0.utf8.count >= 16 }, timeout: .seconds(10)) == String(repeating: "\r\n", count: 8))
    }
}
