import SIPCore
import Testing
@testable import Presence

/// RFC 6665 §4.2.2 with a bounded backlog: while a watcher's NOTIFY is unanswered (the
/// harness is UDP, one in flight), the presentity's further states queue and go out in
/// order; past the bound the oldest give way; a watcher blocked meanwhile sees none of them.
@Suite struct StateBacklogTests {
    /// Subscribes alice to bob and answers the first NOTIFY; returns bob's publication tag.
    private func subscribed(_ h: AgentHarness) throws -> String {
        #expect(h.deliver(PresenceText.subscribe())?.statusCode == 200)
        h.answerAll()
        h.transport.clear()
        h.resetAnswered()
        return try #require(h.deliver(PresenceText.publish(body: PresenceText.pidf(basic: "open", note: "s1")))?
            .headers.first("SIP-ETag"))
    }

    /// Publishes notes s2...sN as modifications of one publication (each answer carries the
    /// entity tag the next one must match, RFC 3903 §4.4).
    private func publish(_ h: AgentHarness, etag: String, notes: ClosedRange<Int>) {
        var etag = etag
        for n in notes {
            let answer = h.deliver(PresenceText.publish(body: PresenceText.pidf(basic: n % 2 == 0 ? "closed" : "open", note: "s\(n)"),
                                                        ifMatch: etag, cseq: n))
            #expect(answer?.statusCode == 200)
            etag = answer?.headers.first("SIP-ETag") ?? etag
        }
    }

    /// Answers NOTIFYs one at a time until none is left; returns the notes in the order sent.
    private func drain(_ h: AgentHarness) throws -> [String] {
        for _ in 0..<50 { h.answerAll() }
        return try h.notifies.map { try PIDFDocument.parse($0.body).summary.note ?? "" }
    }

    @Test func everyStateOfAShortBurstArrivesInOrder() async throws {
        let h = try await AgentHarness()
        let etag = try subscribed(h)
        publish(h, etag: etag, notes: 2...5)
        #expect(h.notifies.count == 1)  // one in flight; s2...s5 wait
        #expect(try drain(h) == ["s1", "s2", "s3", "s4", "s5"])
        try await h.close()
    }

    @Test func aBurstPastTheBoundKeepsTheLatestStates() async throws {
        var configuration = PresenceAgent.Configuration()
        configuration.maxQueuedStatesPerSubscription = 2
        let h = try await AgentHarness(configuration: configuration)
        let etag = try subscribed(h)
        publish(h, etag: etag, notes: 2...6)
        #expect(try drain(h) == ["s1", "s5", "s6"])
        try await h.close()
    }

    @Test func aWatcherBlockedMeanwhileSeesNoneOfTheQueuedStates() async throws {
        let h = try await AgentHarness()
        let etag = try subscribed(h)
        publish(h, etag: etag, notes: 2...4)
        try await h.store.setAccess(user: "bob@example.com", watcher: "alice@example.com", rule: .block)
        try await h.access.refreshIfChanged()
        h.agent.accessChanged(["bob@example.com"])
        for _ in 0..<50 { h.answerAll() }
        let later = try h.notifies.dropFirst().map { try PIDFDocument.parse($0.body).summary }
        #expect(!later.isEmpty)
        #expect(later.allSatisfy { $0.basic == .closed && $0.note == nil }, "\(later)")
        try await h.close()
    }

    /// Over TCP too, one NOTIFY of a subscription is in flight at a time by default: the next
    /// is built only once the last is answered, so two event loops can never start a later
    /// CSeq before an earlier one (the watcher would answer 500, RFC 3261 §12.2.2).
    @Test func overTCPTheNextNotifyWaitsForTheAnswerToTheLast() async throws {
        let h = try await AgentHarness()
        let subscribe = PresenceText.subscribe()
            .replacingOccurrences(of: "SIP/2.0/UDP", with: "SIP/2.0/TCP")
            .replacingOccurrences(of: "@198.51.100.7:5062>", with: "@198.51.100.7:5062;transport=tcp>")
        #expect(h.deliver(subscribe)?.statusCode == 200)
        h.answerAll()
        h.transport.clear()
        h.resetAnswered()
        let etag = try #require(h.deliver(PresenceText.publish(body: PresenceText.pidf(basic: "open", note: "s1")))?
            .headers.first("SIP-ETag"))
        #expect(h.notifies.count == 1)
        #expect((try? h.notifies[0].topVia)??.transport == "TCP")
        publish(h, etag: etag, notes: 2...3)
        #expect(h.notifies.count == 1)  // s2 and s3 wait for the answer to s1
        h.answer(h.notifies[0], 200)
        #expect(h.notifies.count == 2)
        h.answer(h.notifies[1], 200)
        #expect(h.notifies.count == 3)
        let notes = try h.notifies.map { try PIDFDocument.parse($0.body).summary.note }
        #expect(notes == ["s1", "s2", "s3"])
        try await h.close()
    }
}
