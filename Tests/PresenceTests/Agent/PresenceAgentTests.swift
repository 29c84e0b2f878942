import SIPCore
import Store
import SIPTransaction
import Testing
@testable import Presence

/// The presence agent through a real transaction layer (no sockets) with a manual clock:
/// RFC 6665 subscriptions, RFC 3903 publications, RFC 3857 watcher info, access lists.
@Suite struct PresenceAgentTests {
    @Test func subscribeIsAnswered200ThenNotifiedWithTheCurrentState() async throws {
        let h = try await AgentHarness()
        let ok = try #require(h.deliver(PresenceText.subscribe()))
        #expect(ok.statusCode == 200)
        #expect(ok.headers.first("Expires") == "600")
        #expect(ok.to?.tag != nil)
        #expect(ok.headers.first("Contact") == "<sip:192.0.2.1:5060>")
        let notify = try #require(h.notifies.first)
        #expect(notify.subscriptionStateText == "active;expires=600")
        #expect(notify.headers.first("Event") == "presence")
        #expect(notify.headers.first("Content-Type") == "application/pidf+xml")
        #expect(notify.from?.tag == ok.to?.tag)  // our tag: the dialog the 200 made
        #expect(notify.to?.tag == "w-alice")
        #expect(notify.uri.description == "sip:alice@198.51.100.7:5062")  // the remote target
        let state = try PIDFDocument.parse(notify.body)
        #expect(state.summary.basic == .closed)  // bob neither registered nor published
        try await h.close()
    }

    @Test func publishOpenThenClosedReachesTheWatcher() async throws {
        let h = try await AgentHarness()
        h.deliver(PresenceText.subscribe())
        h.answerAll()
        let published = try #require(h.deliver(PresenceText.publish(body: PresenceText.pidf(basic: "open", note: "in a meeting"))))
        #expect(published.statusCode == 200)
        let etag = try #require(published.headers.first("SIP-ETag"))
        #expect(h.notifies.count == 2)
        let open = try PIDFDocument.parse(h.notifies[1].body)
        #expect(open.summary.basic == .open)
        #expect(open.summary.note == "in a meeting")
        h.answerAll()
        let modified = try #require(h.deliver(PresenceText.publish(body: PresenceText.pidf(basic: "closed"), ifMatch: etag, cseq: 2)))
        #expect(modified.statusCode == 200)
        #expect(modified.headers.first("SIP-ETag") != etag)  // a new entity-tag per change (§6 step 8)
        #expect(try PIDFDocument.parse(h.notifies[2].body).summary.basic == .closed)
        try await h.close()
    }

    @Test func publicationRefreshRemoveAndUnknownETag() async throws {
        let h = try await AgentHarness()
        let first = try #require(h.deliver(PresenceText.publish(body: PresenceText.pidf(basic: "open"))))
        let etag = try #require(first.headers.first("SIP-ETag"))
        #expect(h.deliver(PresenceText.publish(body: nil, ifMatch: "no-such-etag", cseq: 2))?.statusCode == 412)
        let refreshed = try #require(h.deliver(PresenceText.publish(body: nil, ifMatch: etag, expires: 900, cseq: 3)))
        #expect(refreshed.statusCode == 200)
        let next = try #require(refreshed.headers.first("SIP-ETag"))
        #expect(h.deliver(PresenceText.publish(body: nil, ifMatch: etag, cseq: 4))?.statusCode == 412)  // the old tag is gone
        #expect(h.deliver(PresenceText.publish(body: nil, ifMatch: next, expires: 0, cseq: 5))?.statusCode == 200)
        #expect(h.agent.counts.publications == 0)
        #expect(h.deliver(PresenceText.publish(body: nil))?.statusCode == 400)  // initial without body
        try await h.close()
    }

    @Test(arguments: ["dialog", "message-summary", "presencex"])
    func unknownEventIs489(_ event: String) async throws {
        let h = try await AgentHarness()
        let sub = try #require(h.deliver(PresenceText.subscribe(event: event)))
        #expect(sub.statusCode == 489)
        #expect(sub.headers.first("Allow-Events")?.contains("presence") == true)
        #expect(h.deliver(PresenceText.publish(body: PresenceText.pidf(basic: "open"), event: event))?.statusCode == 489)
        #expect(h.deliver(PresenceText.publish(body: PresenceText.pidf(basic: "open"), event: "presence.winfo"))?.statusCode == 489)
        try await h.close()
    }

    @Test(arguments: ["not xml at all", "<presence entity=\"sip:bob@example.com\"/>",
                      "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"><tuple id=\"a\"><status/></tuple></presence>"])
    func badPIDFIs400(_ body: String) async throws {
        let h = try await AgentHarness()
        #expect(h.deliver(PresenceText.publish(body: body))?.statusCode == 400)
        #expect(h.deliver(PresenceText.publish(body: "{}", contentType: "application/json"))?.statusCode == 415)
        #expect(h.agent.counts.publications == 0)
        try await h.close()
    }

    @Test func expiresBelowTheMinimumIs423AndAboveTheMaximumIsShortened() async throws {
        let h = try await AgentHarness()
        let short = try #require(h.deliver(PresenceText.subscribe(expires: 5)))
        #expect(short.statusCode == 423)
        #expect(short.headers.first("Min-Expires") == "60")
        #expect(h.deliver(PresenceText.subscribe(callID: "long", expires: 999_999))?.headers.first("Expires") == "7200")
        try await h.close()
    }

    @Test func refreshKeepsAndExpiryEndsTheSubscription() async throws {
        let h = try await AgentHarness()
        let ok = try #require(h.deliver(PresenceText.subscribe(expires: 60)))
        let tag = try #require(ok.to?.tag)
        h.answerAll()
        h.clock.advance(50)
        h.agent.sweep()
        let refreshed = try #require(h.deliver(PresenceText.subscribe(cseq: 2, toTag: tag, expires: 60)))
        #expect(refreshed.statusCode == 200)
        #expect(h.notifies.count == 2)  // an immediate NOTIFY on every SUBSCRIBE (§4.2.1.2)
        h.answerAll()
        h.clock.advance(50)  // 100 s after the first SUBSCRIBE, 50 after the refresh
        h.agent.sweep()
        #expect(h.agent.counts.subscriptions == 1)
        h.clock.advance(11)
        h.agent.sweep()
        #expect(h.agent.counts.subscriptions == 0)
        let last = try #require(h.notifies.last)
        #expect(last.subscriptionStateText == "terminated;reason=timeout")
        // The dialog is gone: a refresh now is 481.
        #expect(h.deliver(PresenceText.subscribe(cseq: 3, toTag: tag, expires: 60))?.statusCode == 481)
        try await h.close()
    }

    @Test func anExpiredPublicationNoLongerCounts() async throws {
        let h = try await AgentHarness()
        h.deliver(PresenceText.subscribe(expires: 3600))
        h.answerAll()
        #expect(h.deliver(PresenceText.publish(body: PresenceText.pidf(basic: "open"), expires: 60))?.statusCode == 200)
        h.answerAll()
        h.clock.advance(59)
        h.agent.sweep()
        #expect(h.agent.counts.publications == 1)
        h.clock.advance(2)
        h.agent.sweep()
        #expect(h.agent.counts.publications == 0)  // RFC 3903 §5: expired, removed
        #expect(try PIDFDocument.parse(try #require(h.notifies.last).body).summary.basic == .closed)
        try await h.close()
    }

    @Test func unsubscribeSendsAFinalNotify() async throws {
        let h = try await AgentHarness()
        let tag = try #require(h.deliver(PresenceText.subscribe())?.to?.tag)
        h.answerAll()
        #expect(h.deliver(PresenceText.subscribe(cseq: 2, toTag: tag, expires: 0))?.statusCode == 200)
        #expect(h.notifies.last?.subscriptionStateText == "terminated;reason=timeout")
        #expect(h.agent.counts.subscriptions == 0)
        // A lower CSeq in a live dialog is 500 (RFC 3261 §12.2.2); a wrong Call-ID is 481.
        let tag2 = try #require(h.deliver(PresenceText.subscribe(callID: "sub-2", cseq: 5))?.to?.tag)
        #expect(h.deliver(PresenceText.subscribe(callID: "sub-2", cseq: 4, toTag: tag2))?.statusCode == 500)
        #expect(h.deliver(PresenceText.subscribe(callID: "forged", cseq: 6, toTag: tag2))?.statusCode == 481)
        try await h.close()
    }

    @Test func signingInAndOutChangesWhatWatchersSee() async throws {
        let h = try await AgentHarness()
        h.deliver(PresenceText.subscribe())
        h.answerAll()
        h.setRegistered("bob@example.com", ["sip:bob@198.51.100.9:5060"])
        #expect(h.notifies.count == 2)
        #expect(try PIDFDocument.parse(h.notifies[1].body).summary.basic == .open)
        h.answerAll()
        h.deliver(PresenceText.publish(body: PresenceText.pidf(basic: "open", note: "busy")))
        h.answerAll()
        h.setRegistered("bob@example.com", [])  // signed out everywhere: offline, publication dropped
        let last = try PIDFDocument.parse(try #require(h.notifies.last).body)
        #expect(last.summary.basic == .closed)
        #expect(h.agent.counts.publications == 0)
        try await h.close()
    }

    @Test func aPresentityRemovedFromTheDirectoryEndsItsSubscriptions() async throws {
        let h = try await AgentHarness()
        h.deliver(PresenceText.subscribe())
        h.answerAll()
        h.removed.users.withLock { _ = $0.insert("bob@example.com") }
        h.agent.sweep()
        #expect(h.agent.counts.subscriptions == 0)
        #expect(h.notifies.last?.subscriptionStateText == "terminated;reason=noresource")
        try await h.close()
    }

    /// With authentication on, nobody authenticated means nobody verified: a PUBLISH for bob
    /// from an unauthenticated (foreign) From is refused, and such a watcher is politely
    /// blocked even when bob's list allows the name it claims.
    @Test func unauthenticatedPublisherIsRefusedAndUnverifiedWatcherBlocked() async throws {
        var configuration = PresenceAgent.Configuration()
        configuration.authenticationRequired = true
        let h = try await AgentHarness(configuration: configuration)
        #expect(h.deliver(PresenceText.publish(body: PresenceText.pidf(basic: "open", note: "forged")))?.statusCode == 403)
        try await h.store.setAccess(user: "bob@example.com", watcher: "carol@partner.example", rule: .allow)
        try await h.access.refreshIfChanged()
        h.deliver(PresenceText.subscribe(watcher: "carol", callID: "claims-carol")
            .replacing("carol@example.com", with: "carol@partner.example"))
        let notify = try #require(h.notifies.last)
        #expect(try PIDFDocument.parse(notify.body).summary.basic == .closed)
        h.answerAll()
        h.agent.accessChanged(["bob@example.com"])
        #expect(h.notifies.count == 1)  // the list cannot lift a block on an unverified identity
        #expect(h.agent.counts.subscriptions == 0)  // a fetch: nothing kept, no watcher slot taken
        #expect(h.deliver(PresenceText.subscribe(watcher: "bob", callID: "w", event: "presence.winfo"))?.statusCode == 403)
        // The same answers for a user that does not exist: nothing to enumerate.
        let ghost = try #require(h.deliver(PresenceText.subscribe(watcher: "carol", presentity: "nobody", callID: "ghost")
            .replacing("carol@example.com", with: "carol@partner.example")))
        #expect(ghost.statusCode == 200)
        #expect(try PIDFDocument.parse(try #require(h.notifies.last).body).summary.basic == .closed)
        #expect(h.deliver(PresenceText.publish("nobody", body: PresenceText.pidf("nobody", basic: "open")))?.statusCode == 403)
        try await h.close()
    }

    /// Each unverified watcher's fetch sends a NOTIFY wherever its Contact says, holding a
    /// client transaction until answered: only so many at once, then 503 with Retry-After
    /// until one is answered.
    @Test func unverifiedFetchesInFlightAreCapped() async throws {
        var configuration = PresenceAgent.Configuration()
        configuration.authenticationRequired = true
        configuration.maxUnverifiedFetchesInFlight = 2
        let h = try await AgentHarness(configuration: configuration)
        func foreign(_ callID: String) -> String {
            PresenceText.subscribe(watcher: "carol", callID: callID).replacing("carol@example.com", with: "carol@partner.example")
        }
        #expect(h.deliver(foreign("f-1"))?.statusCode == 200)
        #expect(h.deliver(foreign("f-2"))?.statusCode == 200)
        let refused = try #require(h.deliver(foreign("f-3")))
        #expect(refused.statusCode == 503)
        #expect(refused.headers.first("Retry-After") != nil)
        #expect(h.notifies.count == 2)
        h.answer(try #require(h.notifies.first), 200)  // one answered: its slot is free again
        #expect(h.deliver(foreign("f-4"))?.statusCode == 200)
        #expect(h.deliver(foreign("f-5"))?.statusCode == 503)
        // Refusals before the NOTIFY (here 406) give the slot back too.
        h.answerAll()
        for i in 0..<3 {
            let unacceptable = foreign("f-406-\(i)").replacing("Event: presence", with: "Event: presence\nAccept: text/plain")
            #expect(h.deliver(unacceptable)?.statusCode == 406)
        }
        #expect(h.deliver(foreign("f-6"))?.statusCode == 200)
        try await h.close()
    }

    /// An unverified watcher's fetch NOTIFY goes back to the SUBSCRIBE's source, never to the
    /// Contact it names (which could be anybody's), and one source holds only a few in
    /// flight: a forged UDP source cannot make the server send a victim a stream of
    /// retransmitted NOTIFYs.
    @Test func unverifiedFetchesGoBackToTheirSourceAndAreCappedPerSource() async throws {
        var configuration = PresenceAgent.Configuration()
        configuration.authenticationRequired = true
        configuration.maxUnverifiedFetchesPerSource = 2
        let h = try await AgentHarness(configuration: configuration)
        func foreign(_ callID: String) -> String {
            PresenceText.subscribe(watcher: "carol", callID: callID).replacing("carol@example.com", with: "carol@partner.example")
                .replacing("Contact: <sip:carol@198.51.100.7:5062>", with: "Contact: <sip:carol@203.0.113.66:7000>")
        }
        let attacker = SIPMessageSource(transport: .udp, remote: SIPHostPort(host: "198.51.100.99", port: 5999))
        #expect(foreign("c").contains("203.0.113.66"))
        #expect(h.deliver(foreign("s-1"), from: attacker)?.statusCode == 200)
        #expect(h.deliver(foreign("s-2"), from: attacker)?.statusCode == 200)
        let destinations = h.transport.destinations
        #expect(destinations.count == 2)
        #expect(destinations.allSatisfy { $0.address == SIPHostPort(host: "198.51.100.99", port: 5999) && $0.transport == .udp })
        let refused = try #require(h.deliver(foreign("s-3"), from: attacker))
        #expect(refused.statusCode == 503)
        #expect(refused.headers.first("Retry-After") != nil)
        #expect(h.notifies.count == 2)
        // Another source is not held back by that one.
        let other = SIPMessageSource(transport: .udp, remote: SIPHostPort(host: "198.51.100.7", port: 5062))
        #expect(h.deliver(foreign("o-1"), from: other)?.statusCode == 200)
        // An answered fetch gives its source's slot back.
        h.answer(try #require(h.notifies.first), 200)
        #expect(h.deliver(foreign("s-4"), from: attacker)?.statusCode == 200)
        #expect(h.deliver(foreign("s-5"), from: attacker)?.statusCode == 503)
        try await h.close()
    }

    /// A lost or refused connection is not the watcher's answer: the subscription survives a
    /// few retry rounds (each a sweep, with the latest state), and only then ends.
    @Test func transportFailuresAreRetriedBeforeTheSubscriptionEnds() async throws {
        let h = try await AgentHarness()
        h.transport.failRequests.withLock { $0 = true }
        h.deliver(PresenceText.subscribe())
        #expect(h.agent.counts.subscriptions == 1)
        for _ in 0..<2 { h.clock.advance(1); h.agent.sweep() }
        #expect(h.agent.counts.subscriptions == 1)
        h.transport.failRequests.withLock { $0 = false }  // the connection is back
        h.clock.advance(1)
        h.agent.sweep()
        let retried = try #require(h.notifies.last)
        h.answer(retried, 200)
        #expect(h.agent.counts.subscriptions == 1)
        // A watcher that stays unreachable is given up after five rounds.
        h.transport.failRequests.withLock { $0 = true }
        h.deliver(PresenceText.publish(body: PresenceText.pidf(basic: "open")))
        for _ in 0..<6 { h.clock.advance(1); h.agent.sweep() }
        #expect(h.agent.counts.subscriptions == 0)
        try await h.close()
    }

    /// One watcher cannot take a presentity's watcher slots (or the table) from others: past
    /// its own cap it gets 503 with Retry-After, others still subscribe, and a subscription
    /// it ends frees a slot.
    @Test func aWatcherHoldsAtMostItsCapOfSubscriptions() async throws {
        var configuration = PresenceAgent.Configuration()
        configuration.maxSubscriptionsPerWatcher = 2
        let h = try await AgentHarness(configuration: configuration)
        #expect(h.deliver(PresenceText.subscribe(callID: "a-1"))?.statusCode == 200)
        let second = try #require(h.deliver(PresenceText.subscribe(presentity: "carol", callID: "a-2")))
        #expect(second.statusCode == 200)
        let refused = try #require(h.deliver(PresenceText.subscribe(callID: "a-3")))
        #expect(refused.statusCode == 503)
        #expect(refused.headers.first("Retry-After") == "\(configuration.retryAfter)")
        #expect(h.deliver(PresenceText.subscribe(watcher: "carol", callID: "c-1"))?.statusCode == 200)
        #expect(h.agent.counts.subscriptions == 3)
        // alice ends one: she may subscribe again.
        let tag = try #require(second.to?.tag)
        #expect(h.deliver(PresenceText.subscribe(presentity: "carol", callID: "a-2", cseq: 2, toTag: tag, expires: 0))?.statusCode == 200)
        #expect(h.deliver(PresenceText.subscribe(callID: "a-4"))?.statusCode == 200)
        try await h.close()
    }

    /// One watcher holds only so many subscriptions to one presentity (each sends NOTIFYs to
    /// the Contact it names): past the cap, 503 with Retry-After, while the same watcher may
    /// still watch others and others may still watch that presentity.
    @Test func aWatcherHoldsAFewSubscriptionsToOnePresentity() async throws {
        var configuration = PresenceAgent.Configuration()
        configuration.maxSubscriptionsPerWatcherAndPresentity = 3
        let h = try await AgentHarness(configuration: configuration)
        for i in 0..<3 { #expect(h.deliver(PresenceText.subscribe(callID: "same-\(i)"))?.statusCode == 200) }
        let refused = try #require(h.deliver(PresenceText.subscribe(callID: "same-3")))
        #expect(refused.statusCode == 503)
        #expect(refused.headers.first("Retry-After") != nil)
        #expect(h.deliver(PresenceText.subscribe(presentity: "carol", callID: "other-presentity"))?.statusCode == 200)
        #expect(h.deliver(PresenceText.subscribe(watcher: "carol", callID: "other-watcher"))?.statusCode == 200)
        #expect(h.agent.counts.subscriptions == 5)
        try await h.close()
    }

    /// A NOTIFY cut by our own graceful stop is not the watcher's answer: the subscription is
    /// kept (and so restored), however many rounds would have ended it otherwise.
    @Test func aStopThatCutsNotifiesKeepsTheSubscription() async throws {
        let h = try await AgentHarness()
        h.deliver(PresenceText.subscribe())
        h.answer(try #require(h.notifies.first), 200)
        h.layer.beginShutdown()
        h.transport.failRequests.withLock { $0 = true }
        h.deliver(PresenceText.publish(body: PresenceText.pidf(basic: "open")))
        for _ in 0..<6 { h.clock.advance(1); h.agent.sweep() }
        #expect(h.agent.counts.subscriptions == 1)
        try await h.close()
    }

    @Test func notifyFailureEndsTheSubscription() async throws {
        let h = try await AgentHarness()
        h.deliver(PresenceText.subscribe())
        let notify = try #require(h.notifies.first)
        h.answer(notify, 481)
        #expect(h.agent.counts.subscriptions == 0)
        h.deliver(PresenceText.subscribe(callID: "sub-2"))
        h.answer(try #require(h.notifies.last), 503, extra: [("Retry-After", "10")])
        #expect(h.agent.counts.subscriptions == 1)  // a failure with Retry-After keeps it
        try await h.close()
    }

    /// With no backlog of states (`maxQueuedStatesPerSubscription = 0`; the default keeps a
    /// few, `StateBacklogTests`), changes behind an unanswered NOTIFY coalesce into the latest.
    @Test func burstsCoalesceIntoTheLatestState() async throws {
        var configuration = PresenceAgent.Configuration()
        configuration.maxQueuedStatesPerSubscription = 0
        let h = try await AgentHarness(configuration: configuration)
        h.deliver(PresenceText.subscribe())
        h.answerAll()
        let etag = try #require(h.deliver(PresenceText.publish(body: PresenceText.pidf(basic: "open", note: "one")))?
            .headers.first("SIP-ETag"))
        #expect(h.notifies.count == 2)  // sent, not yet answered
        let e2 = try #require(h.deliver(PresenceText.publish(body: PresenceText.pidf(basic: "open", note: "two"), ifMatch: etag, cseq: 2))?
            .headers.first("SIP-ETag"))
        h.deliver(PresenceText.publish(body: PresenceText.pidf(basic: "open", note: "three"), ifMatch: e2, cseq: 3))
        #expect(h.notifies.count == 2)  // one in flight: the two changes wait
        h.answerAll()
        #expect(h.notifies.count == 3)  // one more NOTIFY, with the latest
        #expect(try PIDFDocument.parse(h.notifies[2].body).summary.note == "three")
        let seqs = try h.notifies.map { try $0.cseq?.sequence ?? 0 }
        #expect(seqs[2] > seqs[1])
        try await h.close()
    }

    @Test func pendingWatcherAppearsInWatcherInfoUntilAllowed() async throws {
        let h = try await AgentHarness()
        try await h.store.setAccessDefault(domain: "example.com", policy: .pending)
        try await h.access.refreshIfChanged()
        // bob watches his own watcher info (RFC 3857).
        let winfo = try #require(h.deliver(PresenceText.subscribe(watcher: "bob", callID: "winfo", event: "presence.winfo")))
        #expect(winfo.statusCode == 200)
        h.answerAll()
        h.deliver(PresenceText.publish(body: PresenceText.pidf(basic: "open")))
        h.deliver(PresenceText.subscribe())  // alice: pending
        let pending = try #require(h.notifies.first { $0.callID == "sub-1" })
        #expect(pending.subscriptionStateText.hasPrefix("pending"))
        #expect(pending.body.isEmpty)  // a pending watcher learns nothing
        let info = try #require(h.notifies.last { $0.callID == "winfo" })
        #expect(info.headers.first("Content-Type") == "application/watcherinfo+xml")
        let doc = try WatcherInfoDocument.parse(info.body)
        #expect(doc.watcherList.watchers.first?.status == .pending)
        #expect(doc.watcherList.watchers.first?.uri == "sip:alice@example.com")
        h.answerAll()
        // bob allows alice (what `sipctl acl allow` writes); the refresher notices.
        try await h.store.setAccess(user: "bob@example.com", watcher: "alice@example.com", rule: .allow)
        let changed = try #require(try await h.access.refreshIfChanged())
        h.agent.accessChanged(changed)
        let active = try #require(h.notifies.last { $0.callID == "sub-1" })
        #expect(active.subscriptionStateText.hasPrefix("active"))
        #expect(try PIDFDocument.parse(active.body).summary.basic == .open)
        #expect(try WatcherInfoDocument.parse(try #require(h.notifies.last { $0.callID == "winfo" }).body)
            .watcherList.watchers.first?.status == .active)
        // Only bob may see who watches bob.
        #expect(h.deliver(PresenceText.subscribe(watcher: "carol", callID: "spy", event: "presence.winfo"))?.statusCode == 403)
        try await h.close()
    }

    @Test func blockedWatcherPolitelySeesOffline() async throws {
        let h = try await AgentHarness()
        try await h.store.setAccess(user: "bob@example.com", watcher: "alice@example.com", rule: .block)
        try await h.access.refreshIfChanged()
        h.deliver(PresenceText.publish(body: PresenceText.pidf(basic: "open")))
        #expect(h.deliver(PresenceText.subscribe())?.statusCode == 200)  // cannot tell it is blocked
        let notify = try #require(h.notifies.first)
        #expect(notify.subscriptionStateText.hasPrefix("active"))
        #expect(try PIDFDocument.parse(notify.body).summary.basic == .closed)
        h.answerAll()
        h.deliver(PresenceText.publish(body: PresenceText.pidf(basic: "open", note: "new"), callID: "pub-2"))
        #expect(h.notifies.count == 1)  // nothing more reaches a blocked watcher
        // A foreign watcher is blocked out of the box (LCS).
        h.deliver(PresenceText.subscribe(watcher: "mallory", callID: "foreign").replacing("mallory@example.com", with: "mallory@evil.example"))
        let foreign = try #require(h.notifies.last { $0.callID == "foreign" })
        #expect(try PIDFDocument.parse(foreign.body).summary.basic == .closed)
        try await h.close()
    }

    @Test func restartKeepsSubscriptionsAndPublicationsInTheirDialogs() async throws {
        let h = try await AgentHarness()
        let tag = try #require(h.deliver(PresenceText.subscribe())?.to?.tag)
        h.answerAll()
        h.deliver(PresenceText.publish(body: PresenceText.pidf(basic: "open", note: "before restart")))
        let lastSeq = try #require(try h.notifies.last?.cseq?.sequence)
        h.answerAll()
        try await h.close()

        let again = try await AgentHarness(directory: h.directory)
        try await again.agent.restore(from: again.store)
        #expect(again.agent.counts.subscriptions == 1)
        #expect(again.agent.counts.publications == 1)
        let refreshed = try #require(again.deliver(PresenceText.subscribe(cseq: 2, toTag: tag)))
        #expect(refreshed.statusCode == 200)
        let notify = try #require(again.notifies.last)
        #expect(notify.from?.tag == tag)  // the same dialog
        #expect(try notify.cseq.map(\.sequence) ?? 0 > lastSeq)
        #expect(try PIDFDocument.parse(notify.body).summary.note == "before restart")
        try await again.close()
    }
}
