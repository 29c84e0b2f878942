import Foundation
import SIPCore
import SIPTransaction
import Synchronization
import Testing

/// Bounded everywhere (issue 7): past the cap on server transactions a new request gets
/// 503 with Retry-After at once, over a real socket, and the table does not grow; the
/// requests already accepted are still answered.
@Suite(.serialized) struct OverloadTests {
    static func message(branch: String, uaPort: Int) -> String {
        """
        MESSAGE sip:bob@127.0.0.1 SIP/2.0
        Via: SIP/2.0/UDP 127.0.0.1:\(uaPort);branch=\(branch);rport
        Max-Forwards: 70
        From: <sip:alice@example.com>;tag=a
        To: <sip:bob@example.com>
        Call-ID: \(branch)
        CSeq: 1 MESSAGE
        Content-Length: 0


        """
    }

    @Test func fullTransactionTableAnswers503WithRetryAfter() async throws {
        let held = Mutex<[ServerTransaction]>([])
        let handler = SIPClosureHandler { tx in held.withLock { $0.append(tx) } }  // answers later
        var configuration = SIPServer.Configuration()
        configuration.limits = TransactionLayer.Limits(maxServerTransactions: 8, retryAfter: 7)
        let running = try await RunningServer.start([.udp], handlers: [.message: handler], configuration: configuration)
        let port = try #require(running.port(.udp))
        let ua = try await TestUA(group: testEventLoops)
        for i in 0..<40 { try await ua.send(Self.message(branch: "z9hG4bK-load-\(i)", uaPort: ua.port), to: port) }
        var refused: [SIPResponse] = []
        while refused.count < 32, let r = await ua.response() {
            if r.statusCode == 503 { refused.append(r) }
        }
        #expect(refused.count == 32)
        #expect(refused.allSatisfy { $0.headers.first("Retry-After") == "7" })
        #expect(running.server.layer.transactionCounts.server == 8)
        // What was accepted is not lost: each gets its answer.
        for tx in held.withLock({ $0 }) { try tx.respond(200) }
        var answered = 0
        while answered < 8, let r = await ua.response() { if r.statusCode == 200 { answered += 1 } }
        #expect(answered == 8)
        await ua.close()
        try await running.stop()
    }

    /// One sender cannot fill the table for everybody: past its own cap a source gets 503
    /// with Retry-After while another source is still served.
    @Test func oneSourceHoldsAtMostItsShareOfTheTable() async throws {
        let held = Mutex<[ServerTransaction]>([])
        let handler = SIPClosureHandler { tx in held.withLock { $0.append(tx) } }  // answers later
        var configuration = SIPServer.Configuration()
        configuration.limits = TransactionLayer.Limits(maxServerTransactions: 64, maxServerTransactionsPerSource: 4, retryAfter: 9)
        let running = try await RunningServer.start([.udp], handlers: [.message: handler], configuration: configuration)
        let port = try #require(running.port(.udp))
        let flood = try await TestUA(group: testEventLoops)
        for i in 0..<10 { try await flood.send(Self.message(branch: "z9hG4bK-flood-\(i)", uaPort: flood.port), to: port) }
        var refused: [SIPResponse] = []
        while refused.count < 6, let r = await flood.response() {
            if r.statusCode == 503 { refused.append(r) }
        }
        #expect(refused.count == 6)
        #expect(refused.allSatisfy { $0.headers.first("Retry-After") == "9" })
        #expect(running.server.layer.transactionCounts.server == 4)
        let other = try await TestUA(group: testEventLoops, host: "127.0.0.2")
        try await other.send(Self.message(branch: "z9hG4bK-other-1", uaPort: other.port), to: port)
        for _ in 0..<50 where held.withLock({ $0.count }) < 5 { try await Task.sleep(for: .milliseconds(20)) }
        #expect(held.withLock { $0.count } == 5, "the other source's request did not reach the handler")
        for tx in held.withLock({ $0 }) { try tx.respond(200) }
        #expect(await other.response()?.statusCode == 200)
        await flood.close()
        await other.close()
        try await running.stop()
    }
}
