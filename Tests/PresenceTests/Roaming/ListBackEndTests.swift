import Logging
@testable import Presence
import SIPCore
import Store
import Synchronization
import Testing

/// The list server's back-end subscription table (``ListBackEnds``) without sockets: its
/// caps, the SUBSCRIBE it routes, and which NOTIFYs it calls its own.
@Suite("RFC 4662 back-end subscriptions")
struct ListBackEndTests {
    final class Routed: Sendable {
        let requests = Mutex<[(SIPRequest, String)]>([])
    }

    static func table(perList: Int, total: Int, routed: Routed) -> ListBackEnds {
        var limits = ListBackEndLimits()
        limits.perList = perList
        limits.total = total
        let table = ListBackEnds(limits: limits, contactURI: { _ in "sip:127.0.0.1:5060;transport=tcp" },
                                 clock: StoreClock { 1_000 }, logger: Logger(label: "test"))
        // A routing that records the request and finds no route (the entry waits to retry).
        table.attach(ListBackEndRouting(isRemote: { !$0.hasSuffix("@example.com") }, route: { request, owner, done in
            routed.requests.withLock { $0.append((request, owner)) }
            done(nil)
        }))
        return table
    }

    @Test func capsPerListAndInAll() {
        let routed = Routed()
        let table = Self.table(perList: 3, total: 5, routed: routed)
        let members = (1...6).map { "m\($0)@example.org" }
        table.reconcile(owner: "alice@example.com", members: members)
        #expect(table.count == 3)
        table.reconcile(owner: "bob@example.com", members: members)
        #expect(table.count == 5)  // bob gets the two left of the total
        let (first, owner) = try! #require(routed.requests.withLock { $0.first })
        #expect(owner == "alice@example.com")
        #expect(first.method == .subscribe)
        #expect(first.uri.description == "sip:m1@example.org")
        #expect(first.event?.package == "presence")
        #expect(first.from?.tag != nil)
        #expect(first.headers.first("Expires") == "3600")
        // alice's last list subscription ends: hers go (no dialog was made), bob's stay.
        table.reconcile(owner: "alice@example.com", members: [])
        #expect(table.count == 2)
        #expect(table.resourceState(owner: "bob@example.com", member: "m1@example.org") == .unknown)
    }

    @Test func ownsOnlyNotifiesOfItsDialogs() throws {
        let routed = Routed()
        let table = Self.table(perList: 10, total: 10, routed: routed)
        // A routing that never answers leaves the SUBSCRIBE in flight: an early NOTIFY
        // (RFC 6665 §4.1.2.4) with our tag and Call-ID is ours; anything else is not.
        table.attach(ListBackEndRouting(isRemote: { _ in true }, route: { request, owner, _ in
            routed.requests.withLock { $0.append((request, owner)) }
        }))
        table.reconcile(owner: "alice@example.com", members: ["bob@example.org"])
        let (subscribe, _) = try #require(routed.requests.withLock { $0.first })
        let tag = try #require(subscribe.from?.tag ?? nil)
        let callID = try #require(subscribe.callID)
        func notify(callID: String, toTag: String) throws -> SIPRequest {
            let text = "NOTIFY sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-n\r\n"
                + "From: <sip:bob@example.org>;tag=b1\r\nTo: <sip:alice@example.com>;tag=\(toTag)\r\n"
                + "Call-ID: \(callID)\r\nCSeq: 1 NOTIFY\r\nEvent: presence\r\nSubscription-State: active\r\n"
                + "Contact: <sip:127.0.0.1:5070>\r\nContent-Length: 0\r\n\r\n"
            guard case .request(let request) = try SIPParser.parseDatagram(Array(text.utf8)) else { throw CancellationError() }
            return request
        }
        #expect(table.owns(try notify(callID: callID, toTag: tag)))
        #expect(!table.owns(try notify(callID: "forged", toTag: tag)))
        #expect(!table.owns(try notify(callID: callID, toTag: "forged")))
    }
}

/// The list subscriptions' once-a-second check composes only the lists holding a presentity
/// the presence agent logged as changed: an idle server with many lists does no work.
@Suite struct PresenceChangeLogTests {
    @Test func logsWhatMovedAndTakesItOnce() async throws {
        let h = try await AgentHarness()
        #expect(h.agent.takeChanges() == .some([]))
        h.setRegistered("bob@example.com", ["sip:bob@192.0.2.7"])  // recomposed: logged
        let taken = h.agent.takeChanges()
        #expect(taken == .some(["bob@example.com"]))
        #expect(taken.touches(["alice@example.com", "Bob@Example.com"]))
        #expect(!taken.touches(["alice@example.com", "carol@example.com"]))
        #expect(h.agent.takeChanges() == .some([]))  // taken once
        #expect(!PresenceChanges.some([]).touches(["bob@example.com"]))
        // An access change for a whole domain: anything may have moved.
        h.agent.accessChanged(["*@example.com"])
        #expect(h.agent.takeChanges() == .all)
        #expect(PresenceChanges.all.touches(["anyone@example.org"]))
        h.agent.accessChanged(["carol@example.com"])
        #expect(h.agent.takeChanges() == .some(["carol@example.com"]))
        try await h.close()
    }

    @Test func tooManyChangesSayAll() async throws {
        let h = try await AgentHarness()
        h.agent.logChanges(Set((0...PresenceAgent.maxLoggedChanges).map { "u\($0)@example.com" }))
        #expect(h.agent.takeChanges() == .all)
        try await h.close()
    }
}
