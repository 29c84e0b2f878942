import Testing
@testable import SIPTransaction

/// RFC 3261 §17.2 server machines (RFC 6026 Accepted), manual clock: every transition and timer.
@Suite struct InviteServerTransactionTests {
    func ms(_ v: Int) -> SIPInstant { SIPInstant(.milliseconds(v)) }
    func make(reliable: Bool = false) -> InviteServerTransaction {
        var a: [TransactionAction] = []
        let t = InviteServerTransaction(reliable: reliable, now: .origin, actions: &a)
        return t
    }

    @Test func startPassesToTUAndArmsTryingTimer() {
        var actions: [TransactionAction] = []
        let t = InviteServerTransaction(reliable: false, now: .origin, actions: &actions)
        #expect(actions == [.passToTU, .startTimer(.trying, .milliseconds(200))])
        #expect(t.state == .proceeding)
    }

    @Test func tryingSentWhenTUIsSlow() {
        var t = make()
        #expect(t.handle(.timerFired(.trying), now: ms(199)) == [])
        #expect(t.handle(.timerFired(.trying), now: ms(200)) == [.transmitTrying])
        // a retransmitted INVITE now gets the last provisional response again
        #expect(t.handle(.requestRetransmission, now: ms(500)) == [.transmitResponse])
    }

    @Test func noTryingWhenTUAnswersInTime() {
        var t = make()
        #expect(t.handle(.tuResponse(statusCode: 180), now: ms(50)) == [.cancelTimer(.trying), .transmitResponse])
        #expect(t.state == .proceeding)
        #expect(t.handle(.timerFired(.trying), now: ms(200)) == [])
        #expect(t.handle(.requestRetransmission, now: ms(500)) == [.transmitResponse])
        #expect(t.handle(.tuResponse(statusCode: 183), now: ms(600)) == [.transmitResponse])
    }

    @Test func retransmissionBeforeAnyResponseSendsTryingAtOnce() {
        var t = make()
        #expect(t.handle(.requestRetransmission, now: ms(100)) == [.cancelTimer(.trying), .transmitTrying])
        #expect(t.handle(.requestRetransmission, now: ms(150)) == [.transmitResponse])
    }

    @Test func finalNon2xxUnreliableRetransmitsWithTimerG() {
        var t = make()
        #expect(t.handle(.tuResponse(statusCode: 486), now: ms(10)) == [.cancelTimer(.trying), .transmitResponse, .startTimer(.g, .milliseconds(500)), .startTimer(.h, .seconds(32))])
        #expect(t.state == .completed)
        var now = 10
        var interval = 500
        for expected in [1000, 2000, 4000, 4000] {
            now += interval
            #expect(t.handle(.timerFired(.g), now: ms(now)) == [.transmitResponse, .startTimer(.g, .milliseconds(expected))])
            interval = expected
        }
        #expect(t.handle(.requestRetransmission, now: ms(now)) == [.transmitResponse])
        #expect(t.handle(.tuResponse(statusCode: 500), now: ms(now)) == [])
    }

    @Test func timerHTimesOutWithoutACK() {
        var t = make()
        _ = t.handle(.tuResponse(statusCode: 404), now: .origin)
        #expect(t.handle(.timerFired(.h), now: ms(32000)) == [.reportTimeout(.h), .cancelTimer(.g), .terminate])
        #expect(t.state == .terminated)
    }

    @Test func ackConfirmsThenTimerI() {
        var t = make()
        _ = t.handle(.tuResponse(statusCode: 404), now: .origin)
        #expect(t.handle(.ack, now: ms(100)) == [.cancelTimer(.g), .cancelTimer(.h), .startTimer(.i, .seconds(5))])
        #expect(t.state == .confirmed)
        #expect(t.handle(.ack, now: ms(200)) == [])
        #expect(t.handle(.requestRetransmission, now: ms(200)) == [])
        #expect(t.handle(.timerFired(.g), now: ms(600)) == [])
        #expect(t.handle(.timerFired(.i), now: ms(5100)) == [.terminate])
        #expect(t.state == .terminated)
    }

    @Test func reliableHasNoGAndTerminatesOnACK() {
        var t = make(reliable: true)
        #expect(t.handle(.tuResponse(statusCode: 603), now: .origin) == [.cancelTimer(.trying), .transmitResponse, .startTimer(.h, .seconds(32))])
        #expect(t.handle(.ack, now: ms(10)) == [.cancelTimer(.h), .terminate])
    }

    @Test func twoXXMovesToAcceptedForRFC6026() {
        var t = make()
        _ = t.handle(.tuResponse(statusCode: 180), now: ms(10))
        #expect(t.handle(.tuResponse(statusCode: 200), now: ms(20)) == [.transmitResponse, .startTimer(.l, .seconds(32))])
        #expect(t.state == .accepted)
        #expect(t.handle(.requestRetransmission, now: ms(30)) == [])          // absorbed
        #expect(t.handle(.tuResponse(statusCode: 200), now: ms(520)) == [.transmitResponse])  // TU's 2xx retransmission
        #expect(t.handle(.tuResponse(statusCode: 486), now: ms(520)) == [])
        #expect(t.handle(.ack, now: ms(600)) == [.passToTU])
        #expect(t.handle(.timerFired(.l), now: ms(32020)) == [.terminate])
    }

    @Test func transportErrorInProceedingAndCompleted() {
        var p = make()
        #expect(p.handle(.transportError, now: ms(1)) == [.reportTransportError, .cancelTimer(.trying), .terminate])
        var c = make()
        _ = c.handle(.tuResponse(statusCode: 500), now: .origin)
        #expect(c.handle(.transportError, now: ms(1)) == [.reportTransportError, .cancelTimer(.g), .cancelTimer(.h), .terminate])
    }
}

@Suite struct NonInviteServerTransactionTests {
    func ms(_ v: Int) -> SIPInstant { SIPInstant(.milliseconds(v)) }
    func make(reliable: Bool = false) -> NonInviteServerTransaction {
        var a: [TransactionAction] = []
        return NonInviteServerTransaction(reliable: reliable, now: .origin, actions: &a)
    }

    @Test func startPassesRequestToTU() {
        var actions: [TransactionAction] = []
        let t = NonInviteServerTransaction(reliable: false, now: .origin, actions: &actions)
        #expect(actions == [.passToTU])
        #expect(t.state == .trying)
    }

    @Test func retransmissionInTryingIsAbsorbed() {
        var t = make()
        #expect(t.handle(.requestRetransmission, now: ms(500)) == [])
        #expect(t.state == .trying)
    }

    @Test func provisionalThenFinalUnreliable() {
        var t = make()
        #expect(t.handle(.tuResponse(statusCode: 100), now: ms(10)) == [.transmitResponse])
        #expect(t.state == .proceeding)
        #expect(t.handle(.requestRetransmission, now: ms(500)) == [.transmitResponse])
        #expect(t.handle(.tuResponse(statusCode: 100), now: ms(510)) == [.transmitResponse])
        #expect(t.handle(.tuResponse(statusCode: 200), now: ms(600)) == [.transmitResponse, .startTimer(.j, .seconds(32))])
        #expect(t.state == .completed)
        #expect(t.handle(.requestRetransmission, now: ms(1000)) == [.transmitResponse])
        #expect(t.handle(.tuResponse(statusCode: 500), now: ms(1000)) == [])
        #expect(t.handle(.timerFired(.j), now: ms(32599)) == [])
        #expect(t.handle(.timerFired(.j), now: ms(32600)) == [.terminate])
        #expect(t.state == .terminated)
    }

    @Test func finalReliableTerminatesAtOnce() {
        var t = make(reliable: true)
        #expect(t.handle(.tuResponse(statusCode: 404), now: ms(10)) == [.transmitResponse, .terminate])
        #expect(t.state == .terminated)
    }

    @Test func transportErrorInEveryState() {
        var t = make()
        #expect(t.handle(.transportError, now: ms(1)) == [.reportTransportError, .terminate])
        var p = make()
        _ = p.handle(.tuResponse(statusCode: 180), now: ms(1))
        #expect(p.handle(.transportError, now: ms(2)) == [.reportTransportError, .terminate])
        var c = make()
        _ = c.handle(.tuResponse(statusCode: 200), now: ms(1))
        #expect(c.handle(.transportError, now: ms(2)) == [.reportTransportError, .cancelTimer(.j), .terminate])
    }
}
