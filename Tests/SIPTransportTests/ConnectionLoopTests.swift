import Logging
import NIOCore
import NIOPosix
import SIPCore
import Testing
@testable import SIPTransport

/// A connection the server opens is served by the event loop that asked for it, so relaying
/// between two connections (a MESSAGE forwarded, its answer relayed back) stays on one loop
/// with no hand-off per message; asked from outside any loop, the group picks one.
@Suite struct ConnectionLoopTests {
    @Test func anOutboundConnectionIsOpenedOnTheLoopThatAsked() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 3)
        let server = try SIPTransportLayer(configuration: .init(), eventLoopGroup: group, logger: Logger(label: "test.loops"))
        try await server.start([try ListenSpec(parsing: "tcp:127.0.0.1:0")], handler: Inbox())
        let (peer, peerInbox) = try await startLayer(["tcp:127.0.0.1:0", "tcp:127.0.0.2:0"])
        let destinations = peer.listeners.map { SIPEndpoint(transport: .tcp, address: $0.localAddress) }
        #expect(destinations.count == 2)
        for (n, destination) in destinations.enumerated() {
            // Two loops in a row from the group: round-robin would open the connection on a third.
            _ = group.next()
            let asking = group.next()
            let message = try Sample.optionsMessage(via: "TCP 127.0.0.1:5060", callID: "loop-\(n)")
            try await asking.flatSubmit { () -> EventLoopFuture<Void> in server.sendFuture(message, to: destination) }.get()
            _ = try #require(await peerInbox.next())
            let key = SIPConnectionTable.Key(transport: .tcp, remote: destination.address)
            let channel = try #require(server.table.openChannel(for: key))
            #expect(channel.eventLoop === asking)
        }
        await server.shutdown()
        await peer.shutdown()
        try await group.shutdownGracefully()
    }
}
