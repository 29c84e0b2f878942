import NIOCore
import NIOPosix
import SIPCore
import Synchronization
import Testing

/// A "response" that matches nothing and names the server in its top Via must not make the
/// server a relay: no connection opened to the host and port its second Via names, nothing
/// sent on for anything but a 2xx to INVITE with one of our branches (RFC 3261 §16.7 step 3).
@Suite(.serialized) struct StrayResponseTests {
    static func response(serverPort: Int, branch: String, next: String, method: String) -> String {
        """
        SIP/2.0 200 OK
        Via: SIP/2.0/UDP 127.0.0.1:\(serverPort);branch=\(branch)
        Via: \(next)
        From: <sip:a@example.com>;tag=1
        To: <sip:b@example.com>;tag=2
        Call-ID: stray-\(branch)
        CSeq: 1 \(method)
        Content-Type: text/plain
        Content-Length: *

        FLUSHALL
        """
    }

    @Test func forgedResponsesOpenNoConnectionAndAreNotSentOn() async throws {
        let server = try await RunningHomeServer.start(auth: false, users: [("bob", "b", true)])
        let accepted = Atomic<Int>(0)
        let victim = try await ServerBootstrap(group: testEventLoops)
            .childChannelInitializer { _ in accepted.add(1, ordering: .relaxed); return testEventLoops.next().makeSucceededVoidFuture() }
            .bind(host: "127.0.0.1", port: 0).get()
        let victimPort = try #require(victim.localAddress?.port)
        let udpVictim = try await TestUA(group: testEventLoops)
        let attacker = try await TestUA(group: testEventLoops)
        let ours = "z9hG4bKP0123456789abcdef.0"
        let cases = [
            (ours, "SIP/2.0/TCP 127.0.0.1:\(victimPort);branch=z9hG4bKv1", "INVITE"),  // a connection to any port
            ("z9hG4bKzzz", "SIP/2.0/UDP 127.0.0.1:\(udpVictim.port);branch=z9hG4bKv2", "INVITE"),  // not our branch
            (ours, "SIP/2.0/UDP 127.0.0.1:\(udpVictim.port);branch=z9hG4bKv3", "MESSAGE"),  // not a 2xx to INVITE
        ]
        for (branch, next, method) in cases {
            try await attacker.send(Self.response(serverPort: server.udpPort, branch: branch, next: next, method: method),
                                    to: server.udpPort)
        }
        #expect(await udpVictim.mailbox.next(timeout: .milliseconds(500)) == nil, "the server sent a forged response on")
        #expect(accepted.load(ordering: .relaxed) == 0, "the server opened a connection where a forged Via said")
        try await victim.close()
        await udpVictim.close()
        await attacker.close()
        try await server.stop()
    }
}
