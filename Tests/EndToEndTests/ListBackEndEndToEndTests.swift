import Foundation
import Presence
import Roles
import SIPCore
import Store
import SIPTestSupport
import Testing

/// RFC 4662 §4.4 back-end subscriptions over real sockets: alice's list on HS1 names bob,
/// homed on HS2. HS1's list server subscribes to bob through its routing (home routing to
/// the peer over mutual TLS), folds HS2's NOTIFYs into alice's list, and a PUBLISH on HS2
/// reaches alice's list subscription on HS1 as a partial NOTIFY. A NOTIFY from outside the
/// back-end dialog is refused and changes nothing.
@Suite(.serialized) struct ListBackEndEndToEndTests {
    static func startPair() async throws -> (hs1: MeshServer, hs2: MeshServer) {
        let pki = try MeshPKI()
        let hs1Port = try TestPorts.loopback(), hs2Port = try TestPorts.loopback()
        let more: [(key: String, value: String)] = [("listen", "tcp:127.0.0.1:0"), ("auth", "off")]
        let hs2 = try await MeshServer.start("hs2.example.test", tlsPort: hs2Port, pki: pki,
                                             peers: ["hs1.example.test": hs1Port], settings: more,
                                             policy: HomeServerRole.policy)
        let hs1 = try await MeshServer.start(
            "hs1.example.test", tlsPort: hs1Port, pki: pki, peers: ["hs2.example.test": hs2Port], settings: more,
            prepare: { store in
                let group = try await store.apply(user: "alice@example.com", .addGroup(name: "Friends"))
                for uri in ["bob@example.com", "carol@example.com"] {
                    _ = try await store.apply(user: "alice@example.com",
                                              .setContact(RoamingContact(uri: uri, name: uri, groups: [group.addedGroupID!])))
                }
            }, policy: HomeServerRole.policy)
        return (hs1, hs2)
    }

    /// bob listed with an instance: his state came through the back-end subscription.
    static let bobInstance = #"<resource uri="sip:bob@example.com"><name>bob@example.com</name><instance"#

    /// The next list NOTIFY whose body contains `text` (others answered and skipped), within 15 s.
    static func notify(containing text: String, _ reader: ResourceListEndToEndTests.Reader) async throws -> SIPRequest? {
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            guard let notify = try await reader.notify() else { continue }
            if ResourceListEndToEndTests.text(notify).contains(text) { return notify }
        }
        return nil
    }

    @Test func memberHomedOnAPeerIsSubscribedThroughTheMesh() async throws {
        let (hs1, hs2) = try await Self.startPair()
        let alice = try await RawTCPPeer(port: try #require(hs1.server.port(.tcp)))
        let reader = ResourceListEndToEndTests.Reader(alice)
        try await alice.send(ResourceListEndToEndTests.subscribe(alice, from: "alice", list: "alice", callID: "rls-mesh"))
        let ok = try #require(try await reader.response())
        #expect(ok.statusCode == 200)
        let first = try #require(try await reader.notify())
        #expect(ResourceListEndToEndTests.text(first).contains(#"fullState="true""#))

        // HS1 subscribed to bob at HS2: bob's state (offline, nobody signed in) arrives via HS1.
        let closed = try #require(try await Self.notify(containing: Self.bobInstance, reader))
        #expect(ResourceListEndToEndTests.text(closed).contains("<basic>closed</basic>"))
        #expect(hs1.server.roaming.backEndCount == 1)

        // bob publishes on HS2; alice's list subscription on HS1 sees it.
        let bob = try await TestUA(group: testEventLoops)
        try await bob.send(PresenceEndToEndTests.publish(bob, presentity: "bob", basic: "open", note: "via-hs2",
                                                         callID: "pub-bob"), to: hs2.udpPort)
        #expect(await bob.response()?.statusCode == 200)
        let open = try #require(try await Self.notify(containing: "via-hs2", reader))
        let body = ResourceListEndToEndTests.text(open)
        #expect(body.contains(#"fullState="false""#))
        #expect(body.contains("<basic>open</basic>"))
        #expect(!body.contains("carol@example.com"))  // carol is homed on HS1: nothing moved

        // alice unsubscribes: HS1 ends its back-end subscription at HS2 (Expires: 0).
        try await alice.send(ResourceListEndToEndTests.subscribe(alice, from: "alice", list: "alice", callID: "rls-mesh",
                                                                 cseq: 2, toTag: ok.to?.tag ?? nil, expires: 0))
        #expect(try await reader.response()?.statusCode == 200)
        var ended = false
        for _ in 0..<100 {
            if hs2.server.presence.counts.subscriptions == 0 { ended = true; break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(ended)
        await bob.close()
        await alice.close()
        await hs1.stop()
        await hs2.stop()
    }

    @Test func removingTheMemberEndsItsBackEndSubscription() async throws {
        let (hs1, hs2) = try await Self.startPair()
        let alice = try await RawTCPPeer(port: try #require(hs1.server.port(.tcp)))
        let reader = ResourceListEndToEndTests.Reader(alice)
        try await alice.send(ResourceListEndToEndTests.subscribe(alice, from: "alice", list: "alice", callID: "rls-remove"))
        #expect(try await reader.response()?.statusCode == 200)
        _ = try #require(try await Self.notify(containing: Self.bobInstance, reader))
        #expect(hs2.server.presence.counts.subscriptions == 1)

        // alice's phone deletes bob from her list (SOAP deleteContact): HS1 unsubscribes at HS2
        // (Expires: 0) and sends alice the full state without bob.
        let phone = try await TestUA(group: testEventLoops)
        try await phone.send(RoamingEndToEndTests.service(phone, user: "alice", callID: "del-bob", cseq: 1,
                                                          operation: "deleteContact",
                                                          arguments: "<m:URI>sip:bob@example.com</m:URI>"),
                             to: hs1.udpPort)
        #expect(await phone.response()?.statusCode == 200)
        let full = try #require(try await Self.notify(containing: #"fullState="true""#, reader))
        #expect(!ResourceListEndToEndTests.text(full).contains("bob@example.com"))
        var ended = false
        for _ in 0..<100 {
            if hs2.server.presence.counts.subscriptions == 0 { ended = true; break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(ended)
        await phone.close()
        await alice.close()
        await hs1.stop()
        await hs2.stop()
    }

    @Test func forgedBackEndNotifyIsRefused() async throws {
        let (hs1, hs2) = try await Self.startPair()
        let alice = try await RawTCPPeer(port: try #require(hs1.server.port(.tcp)))
        let reader = ResourceListEndToEndTests.Reader(alice)
        try await alice.send(ResourceListEndToEndTests.subscribe(alice, from: "alice", list: "alice", callID: "rls-forge"))
        #expect(try await reader.response()?.statusCode == 200)
        _ = try #require(try await Self.notify(containing: Self.bobInstance, reader))
        let dialog = try #require(hs1.server.roaming.backEndDialogIDs.first)

        // Someone who is not HS2 sends NOTIFYs claiming bob is open: with made-up tags, with
        // our tag but another Call-ID, and with our tag and Call-ID but another From tag.
        let forger = try await TestUA(group: testEventLoops)
        let attempts = [("forged-call", "z-to", "z-from"), ("other-call", dialog.localTag, dialog.remoteTag),
                        (dialog.callID, dialog.localTag, "not-hs2")]
        for (index, (callID, toTag, fromTag)) in attempts.enumerated() {
            try await forger.send(Self.forgedNotify(forger, hs1Port: hs1.udpPort, callID: callID, toTag: toTag,
                                                    fromTag: fromTag, cseq: 1_000 + index), to: hs1.udpPort)
            let answer = try #require(await forger.response())
            #expect(answer.statusCode >= 400, "forged NOTIFY \(index) answered \(answer.statusCode)")
        }
        // Nothing of it reaches alice: the next list NOTIFYs (if any) never say FORGED.
        try await Task.sleep(for: .seconds(2))
        #expect(!alice.text.contains("FORGED"))
        #expect(hs1.server.roaming.backEndCount == 1)
        await forger.close()
        await alice.close()
        await hs1.stop()
        await hs2.stop()
    }

    static func forgedNotify(_ ua: TestUA, hs1Port: Int, callID: String, toTag: String, fromTag: String, cseq: Int) -> String {
        """
        NOTIFY sip:127.0.0.1:\(hs1Port) SIP/2.0
        Via: SIP/2.0/UDP 127.0.0.1:\(ua.port);branch=z9hG4bK-forged-\(cseq);rport
        Max-Forwards: 70
        From: <sip:bob@example.com>;tag=\(fromTag)
        To: <sip:alice@example.com>;tag=\(toTag)
        Call-ID: \(callID)
        CSeq: \(cseq) NOTIFY
        Contact: <sip:forger@127.0.0.1:\(ua.port)>
        Event: presence
        Subscription-State: active;expires=600
        Content-Type: application/pidf+xml
        Content-Length: *

        <?xml version="1.0" encoding="UTF-8"?>
        <presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:bob@example.com"><tuple id="f"><status><basic>open</basic></status><note>FORGED</note></tuple></presence>
        """
    }
}
