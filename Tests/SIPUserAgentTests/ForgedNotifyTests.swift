import NIOCore
import NIOPosix
import SIPCore
import Testing
@testable import SIPUserAgent

/// A watch ends or subscribes again only on a NOTIFY inside its own dialog: a NOTIFY forged
/// from a raw socket (the right Call-ID with a guessed tag, or another Call-ID) saying the
/// subscription is terminated is answered 481 and changes nothing.
@Suite(.serialized, .timeLimit(.minutes(1))) struct ForgedNotifyTests {
    /// One UDP exchange from a socket of our own: the first response to `text`.
    private func exchange(_ text: String, to port: Int) async throws -> SIPResponse? {
        final class Catch: ChannelInboundHandler, @unchecked Sendable {
            typealias InboundIn = AddressedEnvelope<ByteBuffer>
            let promise: EventLoopPromise<SIPResponse?>
            init(_ promise: EventLoopPromise<SIPResponse?>) { self.promise = promise }
            func channelRead(context: ChannelHandlerContext, data: NIOAny) {
                let bytes = Array(buffer: unwrapInboundIn(data).data)
                if case .response(let response)? = try? SIPParser.parseDatagram(bytes) { promise.succeed(response) }
            }
        }
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let promise = loop.makePromise(of: SIPResponse?.self)
        let channel = try await DatagramBootstrap(group: loop).channelInitializer { $0.pipeline.addHandler(Catch(promise)) }
            .bind(host: "127.0.0.1", port: 0).get()
        let wire = text.replacing("\n", with: "\r\n")
        try await channel.writeAndFlush(AddressedEnvelope(remoteAddress: try SocketAddress(ipAddress: "127.0.0.1", port: port),
                                                          data: channel.allocator.buffer(string: wire))).get()
        loop.scheduleTask(in: .seconds(5)) { promise.succeed(nil) }
        let response = try await promise.futureResult.get()
        try await channel.close()
        return response
    }

    private func forgedNotify(callID: String, toTag: String, alicePort: Int) -> String {
        """
        NOTIFY sip:alice@127.0.0.1:\(alicePort) SIP/2.0
        Via: SIP/2.0/UDP 127.0.0.1:9;rport;branch=z9hG4bK-forged-\(abs(callID.hashValue))
        Max-Forwards: 70
        From: <sip:bob@example.com>;tag=attacker
        To: <sip:alice@example.com>;tag=\(toTag)
        Call-ID: \(callID)
        CSeq: 99 NOTIFY
        Event: presence
        Subscription-State: terminated;reason=deactivated
        Contact: <sip:attacker@127.0.0.1:9>
        Content-Length: 0


        """
    }

    @Test func aForgedTerminatingNotifyIsRefusedAndTheWatchGoesOn() async throws {
        let server = try await HomeServerFixture.start(users: [("alice", "secret-a"), ("bob", "secret-b")])
        let alice = try server.userAgent("alice", password: "secret-a")
        let bob = try server.userAgent("bob", password: "secret-b")
        try await alice.start()
        try await bob.start()
        let watch = try await alice.watch("bob")
        var states = watch.makeAsyncIterator()
        var seen = try #require(await states.next())

        let alicePort = alice.state.withLock { $0.contact.port }
        let callID = try #require(alice.subscriptions.withLock { $0.keys.first })
        for (id, tag) in [(callID, "guessed-tag"), ("other-call@example.com", "guessed-tag")] {
            let answer = try await exchange(forgedNotify(callID: id, toTag: tag, alicePort: alicePort), to: alicePort)
            #expect(answer?.statusCode == 481, "\(id)")
        }
        #expect(alice.subscriptions.withLock { $0.keys.first } == callID)  // still the same dialog

        try await bob.publish(state: .away, note: "still watched")
        while seen.status != .away, let next = await states.next() { seen = next }
        #expect(seen.status == .away)

        watch.cancel()
        await alice.stop()
        await bob.stop()
        try await server.stop()
    }
}
