import NIOCore
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
}
