import SIPCore
import Testing
@testable import SIPUserAgent

/// How a watch reads the notifier's end of a subscription (RFC 6665 §4.1.3) and how often it
/// may subscribe again.
@Suite struct SubscriptionEndTests {
    private func notify(_ state: String) throws -> SIPRequest {
        let text = "NOTIFY sip:alice@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bKn1\r\n"
            + "From: <sip:bob@example.com>;tag=b\r\nTo: <sip:alice@example.com>;tag=a\r\nCall-ID: c1\r\n"
            + "CSeq: 2 NOTIFY\r\nEvent: presence\r\nSubscription-State: \(state)\r\nContent-Length: 0\r\n\r\n"
        guard case .request(let request) = try SIPParser.parseDatagram(Array(text.utf8)) else {
            throw SIPUserAgentError.notRunning
        }
        return request
    }

    @Test func reasonAndRetryAfterAreRead() throws {
        let probation = EventSubscription.termination(try notify("terminated;reason=probation;retry-after=30"))
        #expect(probation.reason == "probation")
        #expect(probation.retryAfter == 30)
        let deactivated = EventSubscription.termination(try notify("Terminated; Reason=Deactivated"))
        #expect(deactivated.reason == "deactivated")
        #expect(deactivated.retryAfter == nil)
        #expect(EventSubscription.termination(try notify("terminated")).reason == nil)
    }

    @Test func aWatchSubscribesAgainAtMostThreeTimesAMinuteAndNeverOnceEnded() {
        let watch = WatchHandle(callID: "c0")
        #expect(watch.resubscribe(as: "c1"))
        #expect(watch.resubscribe(as: "c2"))
        #expect(watch.resubscribe(as: "c3"))
        #expect(!watch.resubscribe(as: "c4"))
        #expect(watch.callID == "c3")
        let other = WatchHandle(callID: "d0")
        other.end()
        #expect(!other.resubscribe(as: "d1"))
        #expect(other.callID == "d0")
    }
}
