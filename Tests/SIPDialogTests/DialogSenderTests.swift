import SIPCore
import SIPTransaction
import SIPTransport
import Synchronization
import Testing
@testable import SIPDialog

/// Sending in a dialog through a real transaction layer over a fake transport.
@Suite struct DialogSenderTests {
    let transport = FakeTransport()
    let layer: TransactionLayer
    init() { layer = TransactionLayer(transport: transport) }

    @Test func notifyGoesToTheFirstRouteWithOurViaAndTheReportArrives() throws {
        var dialog = try Dialog.uas(request: subscribe(), localTag: "ourtag")
        let notify = dialog.makeRequest(.notify, headers: [SIPHeaderField(name: "Event", value: "presence"),
                                                           SIPHeaderField(name: "Subscription-State", value: "active;expires=600")])
        let reports = Mutex<[ClientTransactionReport]>([])
        let handle = try DialogSender.send(notify, in: dialog, layer: layer) { report in
            reports.withLock { $0.append(report) }
        }
        // To proxy2 over TCP (its transport parameter), our Via on top.
        #expect(handle.destination == SIPDestination(transport: .tcp, address: SIPHostPort(host: "proxy2.example", port: 5060)))
        let sent = transport.sent
        try #require(sent.count == 1)
        let (wire, destination) = sent[0]
        #expect(destination == handle.destination)
        let via = try #require(try wire.topVia)
        #expect(via.branch?.hasPrefix("z9hG4bK") == true)
        #expect(via.transport.uppercased() == "TCP")
        #expect(via.host == "192.0.2.1")
        #expect(wire.uri == URI("sip:bob@198.51.100.7:5062"))
        #expect(wire.headers["Route"].count == 2)
        #expect(try wire.cseq == notify.cseq)

        // The subscriber's 200 comes back through the layer and reaches the report.
        var ok = SIPResponse(responding: wire, statusCode: 200)
        ok.headers.append("Contact", "<sip:bob@198.51.100.7:5099>")
        layer.receive(.response(ok), from: SIPMessageSource(transport: .tcp, remote: SIPHostPort(host: "203.0.113.2", port: 5060)))
        let got = reports.withLock { $0 }
        try #require(got.count == 2)
        guard case .outcome(.response(let response)) = got[0] else { Issue.record("expected the 200"); return }
        #expect(response.statusCode == 200)
        guard case .terminated = got[1] else { Issue.record("expected terminated"); return }
        // NOTIFY is a target refresh (RFC 6665 §4.3).
        dialog.receiveResponse(response, to: notify)
        #expect(dialog.remoteTarget == URI("sip:bob@198.51.100.7:5099"))
    }

    /// RFC 5626: the flow the SUBSCRIBE came over is named in the destination.
    @Test func flowIsPassedToTheTransport() throws {
        var dialog = try Dialog.uas(request: subscribe(recordRoutes: []), localTag: "ourtag")
        let peer = SIPHostPort(host: "198.51.100.7", port: 40000)
        try DialogSender.send(dialog.makeRequest(.notify), in: dialog, layer: layer, flowID: 9, flowAddress: peer) { _ in }
        let destination = try #require(transport.sent.first?.1)
        #expect(destination.flowID == 9)
        #expect(destination.flowAddress == peer)
        #expect(destination.address == SIPHostPort(host: "198.51.100.7", port: 5062))
    }

    @Test func nonSIPTargetThrows() throws {
        var dialog = try Dialog.uas(request: subscribe(recordRoutes: []), localTag: "ourtag")
        dialog.remoteTarget = URI("tel:+1-201-555-0123")!
        let error = #expect(throws: DialogError.self) {
            try DialogSender.send(dialog.makeRequest(.notify), in: dialog, layer: layer) { _ in }
        }
        #expect(error?.code == .unresolvableTarget)
        #expect(transport.sent.isEmpty)
    }
}
