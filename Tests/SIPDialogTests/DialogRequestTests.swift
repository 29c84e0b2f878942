import SIPCore
import SIPTransaction
import Testing
@testable import SIPDialog

/// RFC 3261 §12.2: requests sent and received in a dialog.
@Suite struct DialogRequestTests {
    func notifierDialog(recordRoutes: [String] = ["<sip:proxy2.example;transport=tcp;lr>", "<sip:proxy1.example;lr>"]) throws -> Dialog {
        try Dialog.uas(request: subscribe(recordRoutes: recordRoutes), localTag: "ourtag")
    }

    /// §12.2.1.1 loose routing: Request-URI = remote target, Route = route set.
    @Test func notifyWithLooseRoute() throws {
        var d = try notifierDialog()
        let start = d.localSeq
        let notify = d.makeRequest(.notify, headers: [SIPHeaderField(name: "Event", value: "presence"),
                                                      SIPHeaderField(name: "Subscription-State", value: "active;expires=600"),
                                                      SIPHeaderField(name: "Content-Type", value: "application/pidf+xml")],
                                   body: Array("<presence/>".utf8))
        #expect(notify.method == .notify)
        #expect(notify.uri == URI("sip:bob@198.51.100.7:5062"))
        #expect(notify.headers["Route"] == ["<sip:proxy2.example;transport=tcp;lr>", "<sip:proxy1.example;lr>"])
        #expect(notify.from?.uri == URI("sip:alice@home.example"))
        #expect(notify.from?.tag == "ourtag")
        #expect(notify.to?.uri == URI("sip:bob@client.example"))
        #expect(notify.to?.tag == "bobtag")
        #expect(notify.callID == "sub1@client.example")
        #expect(try notify.cseq == CSeq(sequence: start + 1, method: .notify))
        #expect(d.localSeq == start + 1)
        #expect(notify.maxForwards == 70)
        #expect(notify.event?.package == "presence")
        #expect(notify.subscriptionState?.state == "active")
        #expect(notify.headers["Via"].isEmpty)
        #expect(notify.contentLength == 11)
        // It goes on the wire and parses back the same.
        let wire = notify.serialized()
        guard case .request(let back) = try SIPParser.parseDatagram(wire) else { Issue.record("not a request"); return }
        #expect(String(decoding: wire, as: UTF8.self).contains("\r\nContent-Length: 11\r\n"))
        #expect(back.from?.tag == "ourtag" && back.to?.tag == "bobtag")
        #expect(back.body == Array("<presence/>".utf8))
        #expect(d.matches(inDialog("SUBSCRIBE", cseq: 8)))
        // The next request takes the next number.
        #expect(try d.makeRequest(.notify).cseq?.sequence == start + 2)
    }

    /// §12.2.1.1 strict routing: Request-URI = first route (without `method`, URI headers),
    /// Route = rest of the route set + remote target.
    @Test func notifyWithStrictRoute() throws {
        var d = try notifierDialog(recordRoutes: ["<sip:strict.example;method=NOTIFY?Subject=x>", "<sip:proxy1.example;lr>"])
        let notify = d.makeRequest(.notify)
        #expect(notify.uri == URI("sip:strict.example"))
        #expect(notify.headers["Route"] == ["<sip:proxy1.example;lr>", "<sip:bob@198.51.100.7:5062>"])
        #expect(d.nextHopURI == URI("sip:strict.example;method=NOTIFY?Subject=x"))
        #expect(DialogDestination.resolve(d.nextHopURI)?.address == SIPHostPort(host: "strict.example", port: 5060))
    }

    @Test func noRouteSet() throws {
        var d = try notifierDialog(recordRoutes: [])
        let notify = d.makeRequest(.notify)
        #expect(notify.uri == URI("sip:bob@198.51.100.7:5062"))
        #expect(!notify.headers.contains("Route"))
    }

    /// Extra headers named like the dialog's own are ignored.
    @Test func extraHeadersDoNotOverrideDialogHeaders() throws {
        var d = try notifierDialog()
        let r = d.makeRequest(.message, headers: [SIPHeaderField(name: "CSeq", value: "1 MESSAGE"),
                                                  SIPHeaderField(name: "t", value: "<sip:x@y>"),
                                                  SIPHeaderField(name: "Subject", value: "hi")], maxForwards: 10)
        #expect(r.headers["CSeq"].count == 1)
        #expect(r.headers["To"].count == 1)
        #expect(r.to?.tag == "bobtag")
        #expect(r.headers.first("Subject") == "hi")
        #expect(r.maxForwards == 10)
    }

    /// ACK and CANCEL take no new number; makeACK uses the INVITE's.
    @Test func ackTakesNoNewNumber() throws {
        var d = try notifierDialog()
        let invite = d.makeRequest(.invite)
        let n = try #require(try invite.cseq).sequence
        _ = d.makeRequest(.info)
        let ack = d.makeACK(cseq: n)
        #expect(try ack.cseq == CSeq(sequence: n, method: .ack))
        #expect(d.localSeq == n + 1)
        #expect(try d.makeRequest(.ack).cseq?.sequence == n + 1)
        #expect(d.localSeq == n + 1)
    }

    /// §12.2.2: lower or equal CSeq is out of order (500); higher accepted; ACK equal accepted.
    @Test func cseqCheck() throws {
        var d = try notifierDialog()  // remote seq 7
        let before = d
        #expect(d.receive(inDialog("SUBSCRIBE", cseq: 6)) == .reject(status: 500, reason: "Server Internal Error"))
        #expect(d.receive(inDialog("SUBSCRIBE", cseq: 7)) == .reject(status: 500, reason: "Server Internal Error"))
        #expect(d == before)
        #expect(d.receive(inDialog("SUBSCRIBE", cseq: 9)) == .accept)
        #expect(d.remoteSeq == 9)
        #expect(d.receive(inDialog("ACK", cseq: 9)) == .accept)
        #expect(d.remoteSeq == 9)
        #expect(d.receive(inDialog("SUBSCRIBE", cseq: 8)) == .reject(status: 500, reason: "Server Internal Error"))
    }

    /// A UAC's dialog has no remote seq until the peer's first request sets it.
    @Test func firstRemoteRequestSetsRemoteSeq() throws {
        var d = try notifierDialog()
        d.remoteSeq = nil
        #expect(d.receive(inDialog("NOTIFY", cseq: 1)) == .accept)
        #expect(d.remoteSeq == 1)
    }

    /// Target refresh by SUBSCRIBE and NOTIFY (RFC 6665 §4.3), not by MESSAGE.
    @Test func targetRefreshByRequest() throws {
        var d = try notifierDialog()
        #expect(d.receive(inDialog("SUBSCRIBE", cseq: 8, contact: "<sip:bob@198.51.100.8:5070>")) == .accept)
        #expect(d.remoteTarget == URI("sip:bob@198.51.100.8:5070"))
        #expect(d.receive(inDialog("NOTIFY", cseq: 9, contact: "<sip:bob@198.51.100.9>")) == .accept)
        #expect(d.remoteTarget == URI("sip:bob@198.51.100.9"))
        #expect(d.receive(inDialog("MESSAGE", cseq: 10, contact: "<sip:bob@198.51.100.10>")) == .accept)
        #expect(d.remoteTarget == URI("sip:bob@198.51.100.9"))
        #expect(d.receive(inDialog("SUBSCRIBE", cseq: 11)) == .accept)  // no Contact: kept
        #expect(d.remoteTarget == URI("sip:bob@198.51.100.9"))
        // A rejected request refreshes nothing.
        #expect(d.receive(inDialog("SUBSCRIBE", cseq: 11, contact: "<sip:evil@203.0.113.66>")) != .accept)
        #expect(d.remoteTarget == URI("sip:bob@198.51.100.9"))
    }

    /// §12.2.1.2: a 2xx to a target refresh request replaces the remote target.
    @Test func targetRefreshByResponse() throws {
        var d = try notifierDialog()
        let sub = d.makeRequest(.subscribe)
        var notFound = SIPResponse(responding: sub, statusCode: 404)
        notFound.headers.append("Contact", "<sip:bob@203.0.113.1>")
        d.receiveResponse(notFound, to: sub)
        #expect(d.remoteTarget == URI("sip:bob@198.51.100.7:5062"))
        var ok = SIPResponse(responding: sub, statusCode: 200)
        ok.headers.append("Contact", "<sip:bob@203.0.113.2:5080;transport=tcp>")
        d.receiveResponse(ok, to: sub)
        #expect(d.remoteTarget == URI("sip:bob@203.0.113.2:5080;transport=tcp"))
        let message = d.makeRequest(.message)
        var okMessage = SIPResponse(responding: message, statusCode: 200)
        okMessage.headers.append("Contact", "<sip:bob@203.0.113.3>")
        d.receiveResponse(okMessage, to: message)
        #expect(d.remoteTarget == URI("sip:bob@203.0.113.2:5080;transport=tcp"))
    }

    @Test func matchesNeedsAllThree() throws {
        let d = try notifierDialog()
        #expect(d.matches(inDialog("NOTIFY", cseq: 1)))
        #expect(!d.matches(inDialog("NOTIFY", cseq: 1, localTag: "other")))
        #expect(!d.matches(subscribe()))  // no To tag
    }
}
