import Foundation
import Presence
import SIPCore
import Store
import Testing

/// RFC 4662 list subscriptions to a user's roaming list (`sip:USER+contacts@DOMAIN`) over
/// real UDP sockets, in the form liblinphone reads: `multipart/related` with the RLMI part
/// first, `Content-Id` values equal to the RLMI `cid`s, `Event: Presence`.
@Suite(.serialized) struct ResourceListEndToEndTests {
    static func subscribe(_ ua: TestUA, from user: String, list: String, callID: String, cseq: Int = 1,
                          toTag: String? = nil, expires: Int = 600, eventlist: Bool = true) -> String {
        """
        SUBSCRIBE sip:\(list)+contacts@example.com SIP/2.0
        Via: SIP/2.0/UDP 127.0.0.1:\(ua.port);branch=z9hG4bK-rls-\(callID)-\(cseq);rport
        Max-Forwards: 70
        From: <sip:\(user)@example.com>;tag=l-\(callID)
        To: <sip:\(list)+contacts@example.com>\(toTag.map { ";tag=\($0)" } ?? "")
        Call-ID: \(callID)
        CSeq: \(cseq) SUBSCRIBE
        Contact: <sip:\(user)@127.0.0.1:\(ua.port)>
        Event: presence
        \(eventlist ? "Supported: eventlist\n" : "")Accept: multipart/related, application/rlmi+xml, application/pidf+xml
        Expires: \(expires)
        Content-Length: 0


        """
    }

    static func text(_ request: SIPRequest) -> String { String(decoding: request.body, as: UTF8.self) }

    @Test func fullStateThenPartialNotifies() async throws {
        let dir = try RunningHomeServer.temporaryDirectory()
        try await RunningHomeServer.provision([("alice", "a", true), ("bob", "b", true), ("dave", "d", true)],
                                              domain: "example.com", in: dir)
        do {
            let store = try SQLiteStore(directory: dir)
            let group = try await store.apply(user: "alice@example.com", .addGroup(name: "Friends"))
            for uri in ["bob@example.com", "carol@example.org"] {
                _ = try await store.apply(user: "alice@example.com",
                                          .setContact(RoamingContact(uri: uri, name: "N \(uri)", groups: [group.addedGroupID!])))
            }
            try store.close()
        }
        let server = try await RunningHomeServer.start(dataDirectory: dir, auth: false)
        let (bob, registered) = try await RegisteredUA.register("bob", password: "b", on: server, group: testEventLoops)
        #expect(registered?.statusCode == 200)
        let alice = try await TestUA(group: testEventLoops)

        // Without eventlist support: 421 (RFC 4662 §6); someone else's list: 403.
        try await alice.send(Self.subscribe(alice, from: "alice", list: "alice", callID: "no-el", eventlist: false),
                             to: server.udpPort)
        let refused = try #require(await alice.response())
        #expect(refused.statusCode == 421)
        #expect(refused.headers.first("Require") == "eventlist")
        try await alice.send(Self.subscribe(alice, from: "alice", list: "dave", callID: "other"), to: server.udpPort)
        #expect(await alice.response()?.statusCode == 403)

        try await alice.send(Self.subscribe(alice, from: "alice", list: "alice", callID: "rls"), to: server.udpPort)
        let ok = try #require(await alice.response())
        #expect(ok.statusCode == 200)
        #expect(ok.headers.first("Require") == "eventlist")
        var notify = try #require(await alice.request())
        try await alice.answer(notify, 200, toTag: notify.to?.tag ?? "", to: server.udpPort)
        #expect(notify.headers.first("Event") == "Presence")
        let contentType = try #require(notify.headers.first("Content-Type"))
        #expect(contentType.hasPrefix(#"multipart/related;type="application/rlmi+xml""#))
        var body = Self.text(notify)
        // The RLMI part first; bob active with a cid whose part carries that Content-Id; carol
        // (homed elsewhere) listed without an instance.
        let rlmiAt = try #require(body.range(of: "application/rlmi+xml"))
        let pidfAt = try #require(body.range(of: "application/pidf+xml"))
        #expect(rlmiAt.lowerBound < pidfAt.lowerBound)
        #expect(body.contains(#"fullState="true""#))
        #expect(body.contains(#"<resource uri="sip:carol@example.org"><name>N carol@example.org</name></resource>"#))
        let cid = try #require(body.firstMatch(of: /cid="([^"]+)"/)?.1)
        #expect(body.contains("Content-Id: \(cid)\r\n"))
        #expect(body.contains("<basic>open</basic>"))

        // Bob signs out: within about a second, a partial NOTIFY with bob alone, closed.
        try await bob.send(SIPText.register(user: "bob", domain: server.domain, uaPort: bob.port, cseq: 9,
                                            callID: "bob-out", expires: 0), to: server.udpPort)
        #expect(await bob.response()?.statusCode == 200)
        notify = try #require(await alice.request())
        try await alice.answer(notify, 200, toTag: notify.to?.tag ?? "", to: server.udpPort)
        body = Self.text(notify)
        #expect(body.contains(#"fullState="false""#))
        #expect(body.contains(#"version="1""#))
        #expect(body.contains("<basic>closed</basic>"))
        #expect(!body.contains("carol@example.org"))

        // Unsubscribing: 200, then a final NOTIFY with full state.
        try await alice.send(Self.subscribe(alice, from: "alice", list: "alice", callID: "rls", cseq: 2,
                                            toTag: ok.to?.tag ?? nil, expires: 0), to: server.udpPort)
        #expect(await alice.response()?.statusCode == 200)
        notify = try #require(await alice.request())
        #expect(notify.headers.first("Subscription-State")?.hasPrefix("terminated") == true)
        await alice.close()
        await bob.close()
        try await server.stop()
    }
}
