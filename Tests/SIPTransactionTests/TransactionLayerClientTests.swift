import SIPCore
import Testing
@testable import SIPTransaction

/// The layer's client side with a fake transport and a manual clock (no sleeps).
@Suite struct TransactionLayerClientTests {
    let clock = ManualClock()
    let transport = FakeTransport()
    let layer: TransactionLayer
    let udp = SIPDestination(transport: .udp, address: SIPHostPort(host: "203.0.113.5", port: 5060))
    init() { layer = TransactionLayer(transport: transport, now: clock.source) }

    func advance(_ ms: Int) async {
        clock.advance(by: .milliseconds(ms))
        await layer.fireDueTimers()
    }

    func outgoing(_ method: String) -> SIPRequest {
        var r = request(method, uri: "sip:bob@203.0.113.5", branch: "unused")
        r.headers.removeAll("Via")
        return r
    }

    /// RFC 3261 §18.1.1: over 1300 bytes and bound for UDP goes over TCP, Via saying so.
    @Test func largeRequestForUDPGoesOverTCP() throws {
        var big = outgoing("MESSAGE")
        big.body = Array(repeating: UInt8(ascii: "x"), count: 1400)
        big.headers.replace("Content-Length", with: "1400")
        let tx: ClientTransaction = try layer.start(big, to: udp)
        #expect(tx.destination.transport == .tcp)
        #expect(try tx.request.topVia?.transport.uppercased() == "TCP")
        guard case .request(let sent, let destination) = transport.sent.first else { Issue.record("nothing sent"); return }
        #expect(destination.transport == .tcp)
        #expect(try sent.topVia?.transport.uppercased() == "TCP")
        let small: ClientTransaction = try layer.start(outgoing("MESSAGE"), to: udp)
        #expect(small.destination.transport == .udp)
    }

    @Test func nonInviteRequestIsSentWithOurViaRetransmittedAndAnswered() async throws {
        let tx = try await layer.start(outgoing("MESSAGE"), to: udp)
        let via = try #require(try tx.request.topVia)
        #expect(via.branch?.hasPrefix("z9hG4bK") == true)
        #expect(via.host == "192.0.2.1")
        #expect(via.transport.uppercased() == "UDP")
        #expect(transport.sentRequests.count == 1)
        await advance(500)   // Timer E
        await advance(1000)  // doubled
        #expect(transport.sentRequests.count == 3)

        var outcomes = tx.outcomes.makeAsyncIterator()
        await layer.receive(.response(response(to: tx.request, 100)), from: .udpPeer)
        await layer.receive(.response(response(to: tx.request, 200)), from: .udpPeer)
        await layer.receive(.response(response(to: tx.request, 200)), from: .udpPeer)  // absorbed in Completed
        guard case .response(let r1) = await outcomes.next(), case .response(let r2) = await outcomes.next() else {
            Issue.record("expected two responses")
            return
        }
        #expect([r1.statusCode, r2.statusCode] == [100, 200])
        await advance(5000)  // Timer K
        #expect(await outcomes.next() == nil)  // finished: the retransmitted 200 was not passed up
        #expect(await layer.transactionCounts.client == 0)
    }

    @Test func timerFReportsTimeout() async throws {
        let tx = try await layer.start(outgoing("OPTIONS"), to: udp)
        for _ in 0..<64 { await advance(500) }
        await #expect(throws: SIPTransactionError.self) { try await tx.finalResponse() }
        // E retransmissions: 0.5, 1.5, 3.5, 7.5, then every 4 s up to 32 s
        #expect(transport.sentRequests.count == 11)
    }

    @Test func transportErrorIsReportedAsFailure() async throws {
        transport.failSends(true)
        let tx = try await layer.start(outgoing("OPTIONS"), to: udp)
        do {
            _ = try await tx.finalResponse()
            Issue.record("expected a transport error")
        } catch {
            #expect(error.code == .transportError)
            #expect(error.status == 503)
        }
    }

    /// Once a graceful stop has begun, a failure is the stop's, not the peer's: a subscription
    /// whose NOTIFY was cut by it must not be ended (and its end persisted) by its TU.
    @Test func failuresAfterBeginShutdownReportShuttingDown() async throws {
        let timedOut = try await layer.start(outgoing("NOTIFY"), to: udp)
        layer.beginShutdown()
        for _ in 0..<64 { await advance(500) }
        do {
            _ = try await timedOut.finalResponse()
            Issue.record("expected a failure")
        } catch {
            #expect(error.code == .shuttingDown)
            #expect(error.status == 503)
        }
        transport.failSends(true)
        let unsent = try await layer.start(outgoing("NOTIFY"), to: udp)
        do {
            _ = try await unsent.finalResponse()
            Issue.record("expected a failure")
        } catch {
            #expect(error.code == .shuttingDown)
        }
    }

    @Test func inviteNon2xxIsACKedByTheTransaction() async throws {
        let tx = try await layer.start(outgoing("INVITE"), to: udp)
        await layer.receive(.response(response(to: tx.request, 486, toTag: "uas1")), from: .udpPeer)
        let final = try await tx.finalResponse()
        #expect(final.statusCode == 486)
        let ack = try #require(transport.sentRequests.last)
        #expect(ack.method == .ack)
        #expect(ack.uri == tx.request.uri)
        #expect(try ack.topVia?.branch == tx.key.branch)
        #expect(ack.to?.tag == "uas1")
        #expect(try ack.cseq == CSeq(sequence: 1, method: .ack))
        // a retransmitted 486 is ACKed again
        await layer.receive(.response(response(to: tx.request, 486, toTag: "uas1")), from: .udpPeer)
        #expect(transport.sentRequests.filter { $0.method == .ack }.count == 2)
    }

    @Test func cancelWaitsForAProvisionalResponse() async throws {
        let tx = try await layer.start(outgoing("INVITE"), to: udp)
        await tx.cancel()
        #expect(transport.sentRequests.map(\.method) == [.invite])
        await layer.receive(.response(response(to: tx.request, 180)), from: .udpPeer)
        let cancel = try #require(transport.sentRequests.last)
        #expect(cancel.method == .cancel)
        #expect(try cancel.topVia?.branch == tx.key.branch)
        #expect(try cancel.cseq == CSeq(sequence: 1, method: .cancel))
        #expect(await layer.transactionCounts.client == 2)  // the INVITE and the CANCEL
    }

    /// §9.1: a callee that rang, then ignores the CANCEL and never answers finally, does not
    /// keep the INVITE's transaction for ever: 64*T1 after the CANCEL it ends as timed out.
    @Test func cancelledInviteWithNoFinalResponseEndsAfter64T1() async throws {
        let tx = try await layer.start(outgoing("INVITE"), to: udp)
        await layer.receive(.response(response(to: tx.request, 180)), from: .udpPeer)
        await tx.cancel()
        #expect(transport.sentRequests.last?.method == .cancel)
        for _ in 0..<40 { await advance(1_000) }  // the CANCEL's own transaction times out too
        #expect(await layer.transactionCounts.client == 0)
        guard await layer.transactionCounts.client == 0 else { return }  // else finalResponse would wait for ever
        do {
            let final = try await tx.finalResponse()
            Issue.record("expected a timeout, got \(final.statusCode)")
        } catch {
            #expect(error.code == .timeout)
        }
    }

    @Test func strayResponseGoesUp() async throws {
        var events = layer.events.makeAsyncIterator()
        let unrelated = request("OPTIONS", branch: "z9hG4bKnobody")
        await layer.receive(.response(response(to: unrelated, 200)), from: .udpPeer)
        guard case .strayResponse(let r, _) = await events.next() else { Issue.record("no stray event"); return }
        #expect(r.statusCode == 200)
    }

    @Test func twoXXForInviteIsPassedUpIncludingRetransmissions() async throws {
        let tx = try await layer.start(outgoing("INVITE"), to: udp)
        await layer.receive(.response(response(to: tx.request, 200)), from: .udpPeer)
        await layer.receive(.response(response(to: tx.request, 200)), from: .udpPeer)
        var outcomes = tx.outcomes.makeAsyncIterator()
        guard case .response(let a) = await outcomes.next(), case .response(let b) = await outcomes.next() else {
            Issue.record("expected two 2xx"); return
        }
        #expect(a.statusCode == 200 && b.statusCode == 200)
        #expect(!transport.sentRequests.contains { $0.method == .ack })  // ACK for 2xx is the TU's
        await advance(32_000)  // Timer M
        #expect(await layer.transactionCounts.client == 0)
    }
}
