import Presence
import SIPCore
import Testing
@testable import Presence

/// The agent's tables stay cheap whatever a watcher does: removing one of a popular
/// presentity's watchers searches nothing, a watcher's subscriptions to one presentity are
/// counted rather than searched, and refreshing in a loop grows no index.
@Suite struct SubscriptionTableTests {
    @Test func watchersRemovedFromTheMiddleOfAListAreNotNotifiedAndTheRestAre() async throws {
        let h = try await AgentHarness()
        var tags: [String: String] = [:]
        for i in 0..<6 {
            let ok = try #require(h.deliver(PresenceText.subscribe(watcher: "w\(i)", callID: "fan-\(i)")))
            tags["w\(i)"] = try #require(ok.to?.tag)
        }
        h.answerAll()
        for gone in ["w1", "w4", "w0"] {
            let i = gone.dropFirst()
            #expect(h.deliver(PresenceText.subscribe(watcher: gone, callID: "fan-\(i)", cseq: 2, toTag: tags[gone],
                                                     expires: 0))?.statusCode == 200)
        }
        h.answerAll()
        let before = h.notifies.count
        #expect(h.deliver(PresenceText.publish(body: PresenceText.pidf(basic: "open"), expires: 60))?.statusCode == 200)
        let notified = h.notifies.dropFirst(before).compactMap { $0.to?.uri.sipURI?.user }
        #expect(notified.sorted() == ["w2", "w3", "w5"])
        // The rest can still leave, in any order, and the list ends empty.
        for left in ["w5", "w2", "w3"] {
            let i = left.dropFirst()
            #expect(h.deliver(PresenceText.subscribe(watcher: left, callID: "fan-\(i)", cseq: 2, toTag: tags[left],
                                                     expires: 0))?.statusCode == 200)
        }
        #expect(h.agent.counts.subscriptions == 0)
        try await h.close()
    }

    @Test func aSubscriptionEndedGivesBackItsPlaceUnderThePerPresentityCap() async throws {
        var configuration = PresenceAgent.Configuration()
        configuration.maxSubscriptionsPerWatcherAndPresentity = 2
        let h = try await AgentHarness(configuration: configuration)
        let tag = try #require(h.deliver(PresenceText.subscribe(callID: "pair-0"))?.to?.tag)
        #expect(h.deliver(PresenceText.subscribe(callID: "pair-1"))?.statusCode == 200)
        #expect(h.deliver(PresenceText.subscribe(callID: "pair-2"))?.statusCode == 503)
        #expect(h.deliver(PresenceText.subscribe(callID: "pair-0", cseq: 2, toTag: tag, expires: 0))?.statusCode == 200)
        #expect(h.deliver(PresenceText.subscribe(callID: "pair-3"))?.statusCode == 200)
        // The winfo package is counted apart.
        #expect(h.deliver(PresenceText.subscribe(watcher: "bob", callID: "winfo-1", event: "presence.winfo"))?.statusCode == 200)
        try await h.close()
    }

    @Test func refreshingInALoopGrowsNoIndexAndTheSubscriptionStillExpires() async throws {
        let h = try await AgentHarness()
        let tag = try #require(h.deliver(PresenceText.subscribe(expires: 600))?.to?.tag)
        h.answerAll()
        for cseq in 2..<52 {
            #expect(h.deliver(PresenceText.subscribe(cseq: cseq, toTag: tag, expires: 600))?.statusCode == 200)
            h.answerAll()
        }
        #expect(h.agent.expiryIndexEntries == 1)
        // Shortened: filed again, earlier; it expires then, not at the first expiry.
        #expect(h.deliver(PresenceText.subscribe(cseq: 52, toTag: tag, expires: 100))?.statusCode == 200)
        h.answerAll()
        h.clock.advance(101)
        h.agent.sweep()
        #expect(h.agent.counts.subscriptions == 0)
        try await h.close()
    }

    @Test func aRefreshPastTheFirstExpiryIsRefiledAndKept() async throws {
        let h = try await AgentHarness()
        let tag = try #require(h.deliver(PresenceText.subscribe(expires: 100))?.to?.tag)
        h.answerAll()
        h.clock.advance(90)
        #expect(h.deliver(PresenceText.subscribe(cseq: 2, toTag: tag, expires: 100))?.statusCode == 200)
        h.answerAll()
        h.clock.advance(20)  // past the first expiry (100), before the second (190)
        h.agent.sweep()
        #expect(h.agent.counts.subscriptions == 1)
        h.clock.advance(81)
        h.agent.sweep()
        #expect(h.agent.counts.subscriptions == 0)
        try await h.close()
    }
}
