import SIPCore
import Testing
@testable import Presence

/// Per next hop pacing of NOTIFYs (a large fan-out towards one hop must not outrun Timer F).
@Suite struct HopPacingTests {
    @Test func slotsWaitersAndOrder() {
        var pacing = HopPacing(limit: 2)
        let acquired = [pacing.acquire(7), pacing.acquire(7), pacing.acquire(7), pacing.acquire(0)]
        #expect(acquired == [true, true, false, true])  // two slots; an unknown hop is never held back
        pacing.wait("a", on: 7)
        pacing.wait("b", on: 7)
        var next = pacing.nextWaiting(7)
        #expect(next == nil)  // no free slot
        pacing.release(7)
        next = pacing.nextWaiting(7)
        #expect(next == "a")
        let again = pacing.acquire(7)
        #expect(again)
        next = pacing.nextWaiting(7)
        #expect(next == nil)
        pacing.release(7)
        pacing.release(7)
        next = pacing.nextWaiting(7)
        #expect(next == "b")
        next = pacing.nextWaiting(7)
        #expect(next == nil)  // queue empty
        #expect(pacing.waitingHops.isEmpty)
    }

    @Test func bytesInFlightHoldAHopBackAndComeBackWithTheAnswer() {
        var pacing = HopPacing(limit: 100, byteLimit: 1_000)
        var acquired = pacing.acquire(7)
        #expect(acquired)
        pacing.charge(7, bytes: 700)
        acquired = pacing.acquire(7)
        #expect(acquired)  // 700 < 1000: room for one more, whatever its size
        pacing.charge(7, bytes: 700)
        acquired = pacing.acquire(7)
        #expect(!acquired)  // 1400 bytes in flight
        pacing.wait("a", on: 7)
        var next = pacing.nextWaiting(7)
        #expect(next == nil)
        pacing.release(7, bytes: 700)
        #expect(pacing.bytesInFlight[7] == 700)
        next = pacing.nextWaiting(7)
        #expect(next == "a")
        pacing.release(7, bytes: 700)
        #expect(pacing.bytesInFlight[7] == nil)
        #expect(pacing.inFlight[7] == nil)
    }

    /// A fan-out towards one hop stops at its byte budget (a stack that stops reading holds
    /// no more than that) and goes on as answers return the bytes.
    @Test func aFanOutStopsAtTheHopsByteBudget() async throws {
        var configuration = PresenceAgent.Configuration()
        configuration.maxNotifyBytesInFlightPerHop = 3 * PresenceAgent.notifyHeaderAllowance
        let h = try await AgentHarness(configuration: configuration)
        for n in 1...6 {
            #expect(h.deliver(PresenceText.subscribe(watcher: "w\(n)", callID: "sub-\(n)"))?.statusCode == 200)
            h.answerAll()
        }
        h.transport.clear()
        h.resetAnswered()
        h.deliver(PresenceText.publish(body: PresenceText.pidf(basic: "open", note: "budget")))
        #expect(h.notifies.count == 3)  // each NOTIFY counts at least the header allowance
        h.answer(h.notifies[0], 200)
        #expect(h.notifies.count == 4)
        for _ in 0..<4 { h.answerAll() }
        let watchers = Set(h.notifies.compactMap { $0.to?.uri.sipURI?.user })
        #expect(watchers.count == 6)
        try await h.close()
    }

    @Test func aFanOutOverOneHopWaitsForAnswersAndEveryWatcherGetsTheLatestState() async throws {
        var configuration = PresenceAgent.Configuration()
        configuration.maxNotifiesInFlightPerHop = 2
        let h = try await AgentHarness(configuration: configuration)
        let watchers = (1...5).map { "w\($0)" }
        for (n, watcher) in watchers.enumerated() {
            #expect(h.deliver(PresenceText.subscribe(watcher: watcher, callID: "sub-\(n)"))?.statusCode == 200)
        }
        #expect(h.notifies.count == 5)  // every SUBSCRIBE gets its NOTIFY at once
        h.answerAll()
        h.transport.clear()
        h.resetAnswered()

        let etag = try #require(h.deliver(PresenceText.publish(body: PresenceText.pidf(basic: "open", note: "one")))?
            .headers.first("SIP-ETag"))
        #expect(h.notifies.count == 2)  // the hop's two slots; three watchers wait
        h.deliver(PresenceText.publish(body: PresenceText.pidf(basic: "open", note: "two"), ifMatch: etag, cseq: 2))
        #expect(h.notifies.count == 2)  // still two in flight: the change coalesces
        h.answer(h.notifies[0], 200)
        #expect(h.notifies.count == 3)  // one answer, one slot, the longest waiter
        for _ in 0..<6 { h.answerAll() }
        // Each watcher's last NOTIFY carries the latest state, and no NOTIFY was lost.
        var last: [String: String] = [:]
        for notify in h.notifies {
            let watcher = notify.to?.uri.sipURI?.user ?? ""
            last[watcher] = try PIDFDocument.parse(notify.body).summary.note
        }
        #expect(last.count == 5)
        #expect(last.values.allSatisfy { $0 == "two" }, "\(last)")
        #expect(h.notifies.count <= 10)
        try await h.close()
    }
}
