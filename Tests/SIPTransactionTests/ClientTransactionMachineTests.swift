import Testing
@testable import SIPTransaction

/// RFC 3261 §17.1 client machines, driven by a manual clock: every transition and timer.
@Suite struct InviteClientTransactionTests {
    let s = TransactionTimerSettings.default
    func ms(_ v: Int) -> SIPInstant { SIPInstant(.milliseconds(v)) }

    @Test func startUnreliableSendsAndArmsAAndB() {
        var actions: [TransactionAction] = []
        let t = InviteClientTransaction(reliable: false, now: .origin, actions: &actions)
        #expect(actions == [.transmitRequest, .startTimer(.a, .milliseconds(500)), .startTimer(.b, .seconds(32))])
        #expect(t.state == .calling)
    }

    @Test func startReliableHasNoTimerA() {
        var actions: [TransactionAction] = []
        _ = InviteClientTransaction(reliable: true, now: .origin, actions: &actions)
        #expect(actions == [.transmitRequest, .startTimer(.b, .seconds(32))])
    }

    @Test func timerADoublesWithoutCap() {
        var a: [TransactionAction] = []
        var t = InviteClientTransaction(reliable: false, now: .origin, actions: &a)
        var now = 0
        var expected = 500
        for _ in 0..<6 {
            now += expected
            expected *= 2
            #expect(t.handle(.timerFired(.a), now: ms(now)) == [.transmitRequest, .startTimer(.a, .milliseconds(expected))])
        }
        #expect(expected == 32000)  // beyond T2: Timer A has no cap
    }

    @Test func earlyOrStaleTimerIsIgnored() {
        var a: [TransactionAction] = []
        var t = InviteClientTransaction(reliable: false, now: .origin, actions: &a)
        #expect(t.handle(.timerFired(.a), now: ms(499)) == [])
        #expect(t.handle(.timerFired(.d), now: ms(40000)) == [])
        #expect(t.state == .calling)
    }

    @Test func timerBTimesOut() {
        var a: [TransactionAction] = []
        var t = InviteClientTransaction(reliable: false, now: .origin, actions: &a)
        let actions = t.handle(.timerFired(.b), now: ms(32000))
        #expect(actions == [.reportTimeout(.b), .cancelTimer(.a), .terminate])
        #expect(t.state == .terminated)
    }

    @Test func afterCancelProceedingEndsAt64T1() {
        var a: [TransactionAction] = []
        var t = InviteClientTransaction(reliable: false, now: .origin, actions: &a)
        _ = t.handle(.response(statusCode: 180), now: ms(10))
        #expect(t.handle(.cancelSent, now: ms(1000)) == [.startTimer(.b, .seconds(32))])
        #expect(t.handle(.timerFired(.b), now: ms(32999)) == [])
        #expect(t.handle(.timerFired(.b), now: ms(33000)) == [.reportTimeout(.b), .terminate])
        #expect(t.state == .terminated)
    }

    @Test func afterCancelAFinalResponseStillEndsItNormally() {
        var a: [TransactionAction] = []
        var t = InviteClientTransaction(reliable: true, now: .origin, actions: &a)
        _ = t.handle(.response(statusCode: 180), now: ms(10))
        _ = t.handle(.cancelSent, now: ms(1000))
        #expect(t.handle(.response(statusCode: 487), now: ms(2000)) == [.cancelTimer(.b), .passToTU, .transmitACK, .terminate])
        #expect(t.handle(.timerFired(.b), now: ms(33000)) == [])
    }

    @Test func provisionalMovesToProceedingAndStopsRetransmitting() {
        var a: [TransactionAction] = []
        var t = InviteClientTransaction(reliable: false, now: .origin, actions: &a)
        #expect(t.handle(.response(statusCode: 100), now: ms(10)) == [.cancelTimer(.a), .cancelTimer(.b), .passToTU])
        #expect(t.state == .proceeding)
        #expect(t.handle(.response(statusCode: 180), now: ms(20)) == [.passToTU])
        #expect(t.handle(.timerFired(.a), now: ms(600)) == [])
        #expect(t.handle(.timerFired(.b), now: ms(40000)) == [])
        #expect(t.state == .proceeding)
    }

    @Test(arguments: [false, true]) func finalNon2xxAcksAndWaitsTimerD(reliable: Bool) {
        var a: [TransactionAction] = []
        var t = InviteClientTransaction(reliable: reliable, now: .origin, actions: &a)
        let actions = t.handle(.response(statusCode: 486), now: ms(10))
        if reliable {
            #expect(actions == [.cancelTimer(.b), .passToTU, .transmitACK, .terminate])
            #expect(t.state == .terminated)
        } else {
            #expect(actions == [.cancelTimer(.a), .cancelTimer(.b), .passToTU, .transmitACK, .startTimer(.d, .seconds(32))])
            #expect(t.state == .completed)
            // a retransmitted final response is ACKed again, not passed up (§17.1.1.2)
            #expect(t.handle(.response(statusCode: 486), now: ms(500)) == [.transmitACK])
            #expect(t.handle(.response(statusCode: 200), now: ms(500)) == [])
            #expect(t.handle(.timerFired(.d), now: ms(32010)) == [.terminate])
            #expect(t.state == .terminated)
        }
    }

    @Test func finalFromProceeding() {
        var a: [TransactionAction] = []
        var t = InviteClientTransaction(reliable: false, now: .origin, actions: &a)
        _ = t.handle(.response(statusCode: 180), now: ms(10))
        #expect(t.handle(.response(statusCode: 603), now: ms(20)) == [.passToTU, .transmitACK, .startTimer(.d, .seconds(32))])
        #expect(t.state == .completed)
    }

    @Test func twoXXMovesToAcceptedAndPassesRetransmissions() {
        var a: [TransactionAction] = []
        var t = InviteClientTransaction(reliable: false, now: .origin, actions: &a)
        #expect(t.handle(.response(statusCode: 200), now: ms(10)) == [.cancelTimer(.a), .cancelTimer(.b), .passToTU, .startTimer(.m, .seconds(32))])
        #expect(t.state == .accepted)
        #expect(t.handle(.response(statusCode: 200), now: ms(600)) == [.passToTU])
        #expect(t.handle(.response(statusCode: 180), now: ms(600)) == [])
        #expect(t.handle(.transportError, now: ms(700)) == [])
        #expect(t.handle(.timerFired(.m), now: ms(32010)) == [.terminate])
        #expect(t.state == .terminated)
    }

    @Test func twoXXFromProceeding() {
        var a: [TransactionAction] = []
        var t = InviteClientTransaction(reliable: true, now: .origin, actions: &a)
        _ = t.handle(.response(statusCode: 183), now: ms(10))
        #expect(t.handle(.response(statusCode: 202), now: ms(20)) == [.passToTU, .startTimer(.m, .seconds(32))])
    }

    @Test func transportErrorInEachLiveState() {
        var a: [TransactionAction] = []
        var calling = InviteClientTransaction(reliable: false, now: .origin, actions: &a)
        #expect(calling.handle(.transportError, now: ms(1)) == [.reportTransportError, .cancelTimer(.a), .cancelTimer(.b), .terminate])
        var proceeding = InviteClientTransaction(reliable: false, now: .origin, actions: &a)
        _ = proceeding.handle(.response(statusCode: 100), now: ms(1))
        #expect(proceeding.handle(.transportError, now: ms(2)) == [.reportTransportError, .terminate])
        var completed = InviteClientTransaction(reliable: false, now: .origin, actions: &a)
        _ = completed.handle(.response(statusCode: 404), now: ms(1))
        #expect(completed.handle(.transportError, now: ms(2)) == [.reportTransportError, .cancelTimer(.d), .terminate])
        #expect(completed.state == .terminated)
    }

    @Test func configurableT1ScalesTimers() {
        var a: [TransactionAction] = []
        let custom = TransactionTimerSettings(t1: .milliseconds(100), t2: .seconds(1), t4: .seconds(2))
        _ = InviteClientTransaction(reliable: false, settings: custom, now: .origin, actions: &a)
        #expect(a == [.transmitRequest, .startTimer(.a, .milliseconds(100)), .startTimer(.b, .milliseconds(6400))])
    }
}

@Suite struct NonInviteClientTransactionTests {
    func ms(_ v: Int) -> SIPInstant { SIPInstant(.milliseconds(v)) }

    @Test(arguments: [false, true]) func start(reliable: Bool) {
        var actions: [TransactionAction] = []
        let t = NonInviteClientTransaction(reliable: reliable, now: .origin, actions: &actions)
        if reliable {
            #expect(actions == [.transmitRequest, .startTimer(.f, .seconds(32))])
        } else {
            #expect(actions == [.transmitRequest, .startTimer(.e, .milliseconds(500)), .startTimer(.f, .seconds(32))])
        }
        #expect(t.state == .trying)
    }

    @Test func timerEDoublesUpToT2InTrying() {
        var a: [TransactionAction] = []
        var t = NonInviteClientTransaction(reliable: false, now: .origin, actions: &a)
        var now = 0
        var interval = 500
        for expected in [1000, 2000, 4000, 4000, 4000] {
            now += interval
            #expect(t.handle(.timerFired(.e), now: ms(now)) == [.transmitRequest, .startTimer(.e, .milliseconds(expected))])
            interval = expected
        }
    }

    @Test func timerEIsT2InProceeding() {
        var a: [TransactionAction] = []
        var t = NonInviteClientTransaction(reliable: false, now: .origin, actions: &a)
        #expect(t.handle(.response(statusCode: 100), now: ms(100)) == [.passToTU])
        #expect(t.state == .proceeding)
        #expect(t.handle(.timerFired(.e), now: ms(500)) == [.transmitRequest, .startTimer(.e, .seconds(4))])
        #expect(t.handle(.response(statusCode: 180), now: ms(600)) == [.passToTU])
    }

    @Test func timerFTimesOutInTryingAndProceeding() {
        var a: [TransactionAction] = []
        var trying = NonInviteClientTransaction(reliable: true, now: .origin, actions: &a)
        #expect(trying.handle(.timerFired(.f), now: ms(31999)) == [])
        #expect(trying.handle(.timerFired(.f), now: ms(32000)) == [.reportTimeout(.f), .terminate])
        var proceeding = NonInviteClientTransaction(reliable: false, now: .origin, actions: &a)
        _ = proceeding.handle(.response(statusCode: 100), now: ms(1))
        #expect(proceeding.handle(.timerFired(.f), now: ms(32000)) == [.reportTimeout(.f), .cancelTimer(.e), .terminate])
        #expect(proceeding.state == .terminated)
    }

    @Test func finalResponseUnreliableWaitsTimerK() {
        var a: [TransactionAction] = []
        var t = NonInviteClientTransaction(reliable: false, now: .origin, actions: &a)
        #expect(t.handle(.response(statusCode: 200), now: ms(10)) == [.passToTU, .cancelTimer(.e), .cancelTimer(.f), .startTimer(.k, .seconds(5))])
        #expect(t.state == .completed)
        #expect(t.handle(.response(statusCode: 200), now: ms(20)) == [])
        #expect(t.handle(.timerFired(.e), now: ms(600)) == [])
        #expect(t.handle(.timerFired(.k), now: ms(5010)) == [.terminate])
        #expect(t.state == .terminated)
    }

    @Test func finalResponseReliableTerminatesAtOnce() {
        var a: [TransactionAction] = []
        var t = NonInviteClientTransaction(reliable: true, now: .origin, actions: &a)
        _ = t.handle(.response(statusCode: 183), now: ms(1))
        #expect(t.handle(.response(statusCode: 404), now: ms(10)) == [.passToTU, .cancelTimer(.f), .terminate])
    }

    @Test func transportErrorInTryingAndProceeding() {
        var a: [TransactionAction] = []
        var t = NonInviteClientTransaction(reliable: false, now: .origin, actions: &a)
        #expect(t.handle(.transportError, now: ms(1)) == [.reportTransportError, .cancelTimer(.e), .cancelTimer(.f), .terminate])
        var p = NonInviteClientTransaction(reliable: true, now: .origin, actions: &a)
        _ = p.handle(.response(statusCode: 100), now: ms(1))
        #expect(p.handle(.transportError, now: ms(2)) == [.reportTransportError, .cancelTimer(.f), .terminate])
        var c = NonInviteClientTransaction(reliable: false, now: .origin, actions: &a)
        _ = c.handle(.response(statusCode: 500), now: ms(1))
        #expect(c.handle(.transportError, now: ms(2)) == [])  // nothing left to send in Completed
    }
}
