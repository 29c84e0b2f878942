import SIPCore
import Testing
@testable import SIPTransaction

/// The layer's server side with a fake transport and a manual clock (no sleeps).
@Suite struct TransactionLayerServerTests {
    let clock = ManualClock()
    let transport = FakeTransport()
    let layer: TransactionLayer
    init() { layer = TransactionLayer(transport: transport, now: clock.source) }

    func advance(_ ms: Int) async {
        clock.advance(by: .milliseconds(ms))
        await layer.fireDueTimers()
    }

    @Test func nonInviteRetransmissionsReachTheTUOnce() async throws {
        var events = layer.events.makeAsyncIterator()
        let options = request("OPTIONS", branch: "z9hG4bKone")
        await layer.receive(.request(options), from: .udpPeer)
        await layer.receive(.request(options), from: .udpPeer)  // retransmission in Trying: absorbed
        let other = request("OPTIONS", branch: "z9hG4bKtwo")
        await layer.receive(.request(other), from: .udpPeer)
        guard case .request(let first) = await events.next(), case .request(let second) = await events.next() else {
            Issue.record("expected two requests")
            return
        }
        #expect(first.request == options)
        #expect(second.request == other)  // the retransmission produced no event in between
        #expect(transport.sent.isEmpty)

        try await first.respond(200)
        #expect(transport.sentResponses.map(\.statusCode) == [200])
        #expect(transport.sentResponses[0].to?.tag == first.toTag)
        await layer.receive(.request(options), from: .udpPeer)  // Completed: final retransmitted
        #expect(transport.sentResponses.map(\.statusCode) == [200, 200])
        await #expect(throws: SIPTransactionError.self) { try await first.respond(500) }

        await advance(31_999)
        #expect(await layer.transactionCounts.server == 2)
        await advance(1)  // Timer J
        #expect(await layer.transactionCounts.server == 1)
    }

    /// A challenge sent with `respondAndEnd` keeps no Completed state over UDP: the table
    /// is empty at once, and a retransmission is a new request that gets a new answer. An
    /// INVITE's refusal too: it is sent once, never retransmitted towards an unverified
    /// source (its ACK matches nothing); its 2xx still goes through the transaction.
    @Test func aRefusalSentAndEndedKeepsNoState() async throws {
        var events = layer.events.makeAsyncIterator()
        let register = request("REGISTER", branch: "z9hG4bKreg")
        await layer.receive(.request(register), from: .udpPeer)
        guard case .request(let first) = await events.next() else { Issue.record("no request"); return }
        try await first.respondAndEnd(first.makeResponse(401))
        #expect(transport.sentResponses.map(\.statusCode) == [401])
        #expect(await layer.transactionCounts.server == 0)
        await layer.receive(.request(register), from: .udpPeer)  // a retransmission: a new request
        guard case .request(let again) = await events.next() else { Issue.record("no second request"); return }
        try await again.respondAndEnd(again.makeResponse(401))
        #expect(transport.sentResponses.map(\.statusCode) == [401, 401])
        #expect(await layer.transactionCounts.server == 0)

        let invite = request("INVITE", branch: "z9hG4bKinv-407")
        await layer.receive(.request(invite), from: .udpPeer)
        guard case .request(let call) = await events.next() else { Issue.record("no INVITE"); return }
        try await call.respondAndEnd(call.makeResponse(407))
        #expect(await layer.transactionCounts.server == 0)
        await advance(4_000)  // Timer G would have retransmitted it several times by now
        #expect(transport.sentResponses.map(\.statusCode) == [401, 401, 407])

        let answered = request("INVITE", branch: "z9hG4bKinv-200")
        await layer.receive(.request(answered), from: .udpPeer)
        guard case .request(let ok) = await events.next() else { Issue.record("no INVITE"); return }
        try await ok.respondAndEnd(ok.makeResponse(200))
        #expect(await layer.transactionCounts.server == 1)  // a 2xx is the transaction's (§17.2.1)
    }

    @Test func reliableNonInviteEndsWithItsFinalResponse() async throws {
        var events = layer.events.makeAsyncIterator()
        await layer.receive(.request(request("MESSAGE")), from: .tcpPeer)
        guard case .request(let tx) = await events.next() else { Issue.record("no request"); return }
        try await tx.respond(202)
        #expect(await layer.transactionCounts.server == 0)
        guard case .response(let r, let source) = transport.sent.first else { Issue.record("nothing sent"); return }
        #expect(r.statusCode == 202)
        #expect(source == .tcpPeer)
    }

    @Test func inviteGetsTryingAfter200msAndNon2xxIsRetransmittedUntilACK() async throws {
        var events = layer.events.makeAsyncIterator()
        let invite = request("INVITE", branch: "z9hG4bKinv")
        await layer.receive(.request(invite), from: .udpPeer)
        guard case .request(let tx) = await events.next() else { Issue.record("no request"); return }
        await advance(199)
        #expect(transport.sent.isEmpty)
        await advance(1)
        #expect(transport.sentResponses.map(\.statusCode) == [100])
        #expect(transport.sentResponses[0].to?.tag == nil)
        await layer.receive(.request(invite), from: .udpPeer)  // retransmission: the 100 again
        #expect(transport.sentResponses.map(\.statusCode) == [100, 100])

        try await tx.respond(486)
        await advance(500)  // Timer G
        #expect(transport.sentResponses.map(\.statusCode) == [100, 100, 486, 486])
        var ack = request("ACK", branch: "z9hG4bKinv", cseqMethod: "ACK", toTag: tx.toTag)
        ack.headers.replace("CSeq", with: "1 ACK")
        await layer.receive(.request(ack), from: .udpPeer)
        await advance(1000)  // G cancelled by the ACK
        #expect(transport.sentResponses.count == 4)
        #expect(await layer.transactionCounts.server == 1)
        await advance(4000)  // Timer I (T4 = 5 s after the ACK)
        #expect(await layer.transactionCounts.server == 0)

        // the ACK produced no TU event: the next one is a fresh request
        await layer.receive(.request(request("OPTIONS", branch: "z9hG4bKafter")), from: .udpPeer)
        guard case .request(let next) = await events.next() else { Issue.record("no request"); return }
        #expect(next.request.method == .options)
    }

    @Test func timerHReportsAMissingACK() async throws {
        var events = layer.events.makeAsyncIterator()
        await layer.receive(.request(request("INVITE", branch: "z9hG4bKnoack")), from: .udpPeer)
        guard case .request(let tx) = await events.next() else { Issue.record("no request"); return }
        try await tx.respond(404)
        await advance(32_000)
        guard case .serverTransactionFailed(let failed, let error) = await events.next() else {
            Issue.record("no failure event")
            return
        }
        #expect(failed == tx)
        #expect(error.code == .timeout)
    }

    @Test func twoXXACKGoesToTheTU() async throws {
        var events = layer.events.makeAsyncIterator()
        await layer.receive(.request(request("INVITE", branch: "z9hG4bKok")), from: .udpPeer)
        guard case .request(let tx) = await events.next() else { Issue.record("no request"); return }
        try await tx.respond(200)
        try await tx.respond(200)  // the TU's own 2xx retransmission (RFC 6026 Accepted)
        #expect(transport.sentResponses.map(\.statusCode) == [200, 200])
        let ack = request("ACK", branch: "z9hG4bKok", toTag: tx.toTag)
        await layer.receive(.request(ack), from: .udpPeer)
        guard case .ack(let received, _, let invite) = await events.next() else { Issue.record("no ACK event"); return }
        #expect(received.method == .ack)
        #expect(invite == tx)
        let stray = request("ACK", branch: "z9hG4bKelse", toTag: "x")
        await layer.receive(.request(stray), from: .udpPeer)
        guard case .ack(_, _, let none) = await events.next() else { Issue.record("no ACK event"); return }
        #expect(none == nil)
    }

    @Test func cancelMatchesItsInvite() async throws {
        var events = layer.events.makeAsyncIterator()
        let invite = request("INVITE", branch: "z9hG4bKc1")
        await layer.receive(.request(invite), from: .udpPeer)
        guard case .request(let tx) = await events.next() else { Issue.record("no request"); return }
        let cancel = request("CANCEL", branch: "z9hG4bKc1")
        await layer.receive(.request(cancel), from: .udpPeer)
        guard case .cancel(let c, let target) = await events.next() else { Issue.record("no cancel event"); return }
        #expect(c.method == .cancel)
        #expect(target == tx)
        #expect(transport.sentResponses.map(\.statusCode) == [200])
        #expect(try transport.sentResponses[0].cseq?.method == .cancel)

        let unknown = request("CANCEL", branch: "z9hG4bKnothing")
        await layer.receive(.request(unknown), from: .udpPeer)
        #expect(transport.sentResponses.map(\.statusCode) == [200, 481])
    }

    @Test func rfc2543RequestsMatchWithoutMagicCookie() async throws {
        var events = layer.events.makeAsyncIterator()
        let invite = request("INVITE", branch: "old2543branch")
        await layer.receive(.request(invite), from: .udpPeer)
        await layer.receive(.request(invite), from: .udpPeer)
        guard case .request(let tx) = await events.next() else { Issue.record("no request"); return }
        #expect(tx.key.isRFC2543)
        try await tx.respond(603)
        let ack = request("ACK", branch: "old2543branch", toTag: tx.toTag)
        await layer.receive(.request(ack), from: .udpPeer)
        await advance(600)  // Timer G would have fired had the ACK not matched
        #expect(transport.sentResponses.map(\.statusCode) == [100, 603])
    }

    @Test func requestWithoutCSeqIsRejectedStatelessly() async {
        var bad = request("OPTIONS", branch: "z9hG4bKbad")
        bad.headers.removeAll("CSeq")
        await layer.receive(.request(bad), from: .udpPeer)
        #expect(transport.sentResponses.map(\.statusCode) == [400])
        #expect(await layer.transactionCounts.server == 0)
        var mismatch = request("OPTIONS", branch: "z9hG4bKmm")
        mismatch.headers.replace("CSeq", with: "1 INVITE")  // (the parser rejects this already)
        await layer.receive(.request(mismatch), from: .udpPeer)
        #expect(transport.sentResponses.map(\.statusCode) == [400, 400])
    }

    @Test func transportErrorIsReportedToTheTU() async throws {
        var events = layer.events.makeAsyncIterator()
        await layer.receive(.request(request("MESSAGE", branch: "z9hG4bKte")), from: .udpPeer)
        guard case .request(let tx) = await events.next() else { Issue.record("no request"); return }
        transport.failSends(true)
        try await tx.respond(200)
        guard case .serverTransactionFailed(_, let error) = await events.next() else { Issue.record("no failure"); return }
        #expect(error.code == .transportError)
    }
}
