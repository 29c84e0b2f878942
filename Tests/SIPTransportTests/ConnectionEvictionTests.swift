import NIOCore
import NIOEmbedded
import SIPCore
import Testing
@testable import SIPTransport

/// Connections opened and left silent must not lock everybody else out: with the table
/// full, a new connection takes the place of the oldest accepted one that has not delivered
/// a complete message; connections that have spoken are never evicted.
@Suite("Connection table eviction")
struct ConnectionEvictionTests {
    static func config(max: Int) -> SIPTransportConfiguration {
        var config = SIPTransportConfiguration()
        config.maxConnections = max
        return config
    }

    @Test("a full table of silent connections makes room for a new one, oldest first")
    func silentConnectionsGiveWay() async throws {
        let (server, inbox) = try await startLayer(["tcp:127.0.0.1:0"], configuration: Self.config(max: 3))
        defer { Task { await server.shutdown() } }
        let address = server.endpoint(.tcp).address
        var squatters: [RawStreamClient] = []
        for _ in 0..<3 {
            squatters.append(try await RawStreamClient.connect(to: address))
            try await Task.sleep(for: .milliseconds(50))  // a definite order of arrival
        }
        try await Task.sleep(for: .milliseconds(100))
        #expect(server.connectionCount == 3)
        let client = try await RawStreamClient.connect(to: address)
        defer { client.channel.close(promise: nil) }
        try await client.send(Sample.options(via: "TCP 127.0.0.1:5070", callID: "gets-in"))
        let inbound = try #require(await inbox.next(timeout: .seconds(5)), "the new connection was refused")
        #expect(inbound.message.callID == "gets-in")
        #expect(await squatters[0].closedByPeer(timeout: .seconds(5)).closed, "the oldest silent connection gave way")
        #expect(squatters[1].channel.isActive && squatters[2].channel.isActive)
        for squatter in squatters { squatter.channel.close(promise: nil) }
    }

    @Test("connections that have delivered a message are not evicted: past the cap a new one is refused")
    func speakersStay() async throws {
        let (server, inbox) = try await startLayer(["tcp:127.0.0.1:0"], configuration: Self.config(max: 2))
        defer { Task { await server.shutdown() } }
        let address = server.endpoint(.tcp).address
        var speakers: [RawStreamClient] = []
        for i in 0..<2 {
            let speaker = try await RawStreamClient.connect(to: address)
            try await speaker.send(Sample.options(via: "TCP 127.0.0.1:5070", callID: "speaker-\(i)"))
            #expect(await inbox.next(timeout: .seconds(5)) != nil)
            speakers.append(speaker)
        }
        let late = try await RawStreamClient.connect(to: address)
        #expect(await late.closedByPeer(timeout: .seconds(5)).closed, "the table was full of connections in use")
        #expect(speakers.allSatisfy { $0.channel.isActive })
        for speaker in speakers { speaker.channel.close(promise: nil) }
    }

    @Test("the table picks the oldest still-silent connection, skips ones that spoke or closed, and its order buffer stays bounded")
    func evictionOrderWithoutScan() throws {
        let max = 4
        let table = SIPConnectionTable(maxConnections: max, maxConnectionsPerIP: 100_000)
        let loop = EmbeddedEventLoop()
        let remote = try SocketAddress(ipAddress: "192.0.2.7", port: 5060)
        func accept() throws -> (SIPConnectionID, EmbeddedChannel)? {
            guard table.admit(remote: remote, evictingSilent: true) else { return nil }
            let channel = EmbeddedChannel(loop: loop)
            try channel.connect(to: remote).wait()
            let id = table.makeID()
            table.markSilent(id, channel: channel)
            return (id, channel)
        }
        var open = try (0..<max).map { _ in try #require(try accept()) }
        table.markSpoke(open[0].0)  // the oldest spoke: never evicted
        table.remove(open[1].0)     // the next closed (its count given back below)
        table.release(remote: remote)
        open[1].1.close(promise: nil)
        // Room for one without eviction, then the table is full again.
        let fifth = try #require(try accept())
        let sixth = try #require(try accept())  // evicts [2], the oldest still silent
        #expect(open[0].1.isActive, "a connection that spoke is not evicted")
        #expect(!open[2].1.isActive, "the oldest silent connection gave way")
        #expect(open[3].1.isActive && fifth.1.isActive && sixth.1.isActive)
        table.release(remote: remote)  // [2]'s close gives its count back (done by its handler in the layer)
        open.append(fifth)
        open.append(sixth)

        // Churn: many connections arrive silent and speak; the order buffer does not grow with them.
        for _ in 0..<10_000 {
            table.release(remote: remote)
            let (id, channel) = try #require(try accept())
            table.markSpoke(id)
            _ = channel
        }
        #expect(table.silentOrderCount <= 2 * 3 + 64 + 1, "stale entries are compacted away")
        // Every still-silent connection can be evicted, and then nothing more can.
        table.markSpoke(open[3].0)
        table.markSpoke(fifth.0)
        table.markSpoke(sixth.0)
        #expect(!table.admit(remote: remote, evictingSilent: true), "only connections that spoke are left")
    }
}
