import Foundation
import Presence
import SIPCore
import Store
import Testing

/// The home server as presence agent over real UDP sockets and a real SQLite file:
/// RFC 6665 SUBSCRIBE/NOTIFY, RFC 3903 PUBLISH, registration-driven state, `sipctl acl`
/// changes reaching live subscriptions, and a restart that keeps the dialogs.
@Suite(.serialized) struct PresenceEndToEndTests {
    static func subscribe(_ ua: TestUA, watcher: String, presentity: String, callID: String, cseq: Int = 1,
                          toTag: String? = nil, expires: Int = 600, event: String = "presence",
                          authorization: String? = nil) -> String {
        """
        SUBSCRIBE sip:\(presentity)@example.com SIP/2.0
        Via: SIP/2.0/UDP 127.0.0.1:\(ua.port);branch=z9hG4bK-sub-\(callID)-\(cseq);rport
        Max-Forwards: 70
        From: <sip:\(watcher)@example.com>;tag=w-\(watcher)
        To: <sip:\(presentity)@example.com>\(toTag.map { ";tag=\($0)" } ?? "")
        Call-ID: \(callID)
        CSeq: \(cseq) SUBSCRIBE
        Contact: <sip:\(watcher)@127.0.0.1:\(ua.port)>
        Event: \(event)
        Accept: application/pidf+xml
        Expires: \(expires)
        \(authorization.map { "Proxy-Authorization: \($0)\n" } ?? "")Content-Length: 0


        """
    }

    static func publish(_ ua: TestUA, presentity: String, basic: String, note: String, callID: String) -> String {
        """
        PUBLISH sip:\(presentity)@example.com SIP/2.0
        Via: SIP/2.0/UDP 127.0.0.1:\(ua.port);branch=z9hG4bK-pub-\(callID)-\(basic);rport
        Max-Forwards: 70
        From: <sip:\(presentity)@example.com>;tag=p-\(presentity)
        To: <sip:\(presentity)@example.com>
        Call-ID: \(callID)
        CSeq: 1 PUBLISH
        Event: presence
        Expires: 600
        Content-Type: application/pidf+xml
        Content-Length: *

        <?xml version="1.0" encoding="UTF-8"?>
        <presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:\(presentity)@example.com"><tuple id="d1"><status><basic>\(basic)</basic></status><note>\(note)</note></tuple></presence>
        """
    }

    /// The next NOTIFY the UA receives (answered 200), with its parsed PIDF summary.
    static func nextNotify(_ ua: TestUA, port: Int) async throws -> (SIPRequest, PresenceSummary?) {
        let notify = try #require(await ua.request())
        #expect(notify.method == .notify)
        try await ua.answer(notify, 200, toTag: notify.to?.tag ?? "", to: port)
        return (notify, notify.body.isEmpty ? nil : try PIDFDocument.parse(notify.body).summary)
    }

    @Test func watcherSeesRegistrationPublicationAndSignOut() async throws {
        let server = try await RunningHomeServer.start(auth: false, users: [("alice", "a", true), ("bob", "b", true)])
        let alice = try await TestUA(group: testEventLoops)
        try await alice.send(Self.subscribe(alice, watcher: "alice", presentity: "bob", callID: "e2e-sub"), to: server.udpPort)
        let ok = try #require(await alice.response())
        #expect(ok.statusCode == 200)
        var (notify, state) = try await Self.nextNotify(alice, port: server.udpPort)
        #expect(notify.headers.first("Subscription-State")?.hasPrefix("active") == true)
        #expect(state?.basic == .closed)  // bob is not signed in

        let (bob, registered) = try await RegisteredUA.register("bob", password: "b", on: server, group: testEventLoops)
        #expect(registered?.statusCode == 200)
        (notify, state) = try await Self.nextNotify(alice, port: server.udpPort)
        #expect(state?.basic == .open)  // registered, never published: online

        // Sent again as a UDP client does: a loaded machine may drop a datagram on loopback.
        #expect(try await bob.exchange(Self.publish(bob, presentity: "bob", basic: "open", note: "on the phone",
                                                    callID: "e2e-pub"), to: server.udpPort)?.statusCode == 200)
        (notify, state) = try await Self.nextNotify(alice, port: server.udpPort)
        #expect(state?.note == "on the phone")

        #expect(try await bob.exchange(SIPText.register(user: "bob", domain: server.domain, uaPort: bob.port, cseq: 5,
                                                        callID: "bob-unreg", expires: 0), to: server.udpPort)?.statusCode == 200)
        (notify, state) = try await Self.nextNotify(alice, port: server.udpPort)
        #expect(state?.basic == .closed)  // signed out: offline

        try await alice.send(Self.subscribe(alice, watcher: "alice", presentity: "bob", callID: "e2e-bad",
                                            event: "dialog"), to: server.udpPort)
        #expect(await alice.response()?.statusCode == 489)
        await alice.close()
        await bob.close()
        try await server.stop()
    }

    @Test func subscribeIsChallengedWhenAuthenticationIsOn() async throws {
        let server = try await RunningHomeServer.start(users: [("alice", "pw-a", true), ("bob", "pw-b", true)])
        let alice = try await TestUA(group: testEventLoops)
        try await alice.send(Self.subscribe(alice, watcher: "alice", presentity: "bob", callID: "auth-sub"), to: server.udpPort)
        let challenge = try #require(await alice.response())
        #expect(challenge.statusCode == 407)
        let header = try #require(TestDigest.challenge(in: challenge, header: "Proxy-Authenticate", algorithm: "MD5"))
        let credentials = TestDigest.authorization(challenge: header, user: "alice", password: "pw-a", method: "SUBSCRIBE",
                                                   uri: "sip:bob@example.com")
        try await alice.send(Self.subscribe(alice, watcher: "alice", presentity: "bob", callID: "auth-sub", cseq: 2,
                                            authorization: credentials), to: server.udpPort)
        let ok = try #require(await alice.response())
        #expect(ok.statusCode == 200)
        let tag = try #require(ok.to?.tag)
        _ = try await Self.nextNotify(alice, port: server.udpPort)
        // The refresh inside the dialog needs no new challenge; a forged dialog gets 481.
        try await alice.send(Self.subscribe(alice, watcher: "alice", presentity: "bob", callID: "auth-sub", cseq: 3,
                                            toTag: tag), to: server.udpPort)
        #expect(await alice.response()?.statusCode == 200)
        _ = try await Self.nextNotify(alice, port: server.udpPort)
        try await alice.send(Self.subscribe(alice, watcher: "alice", presentity: "bob", callID: "auth-sub", cseq: 4,
                                            toTag: "guessed-tag"), to: server.udpPort)
        let forged = try #require(await alice.response())
        #expect(forged.statusCode == 407 || forged.statusCode == 481)
        await alice.close()
        try await server.stop()
    }

    /// An attacker with a UDP socket: a PUBLISH for bob whose From is outside our domains is
    /// never challenged (we cannot verify foreign users), so it must be refused, not taken as
    /// bob's state; a SUBSCRIBE to bob claiming a foreign identity sees bob offline.
    @Test func forgedForeignPublishIsRefusedWithAuthenticationOn() async throws {
        let server = try await RunningHomeServer.start(users: [("alice", "pw-a", true), ("bob", "pw-b", true)])
        let mallory = try await TestUA(group: testEventLoops)
        let forged = Self.publish(mallory, presentity: "bob", basic: "open", note: "forged", callID: "forged-pub")
            .replacing("From: <sip:bob@example.com>", with: "From: <sip:mallory@evil.example>")
        try await mallory.send(forged, to: server.udpPort)
        #expect(await mallory.response()?.statusCode == 403)
        let spy = Self.subscribe(mallory, watcher: "carol", presentity: "bob", callID: "forged-sub")
            .replacing("carol@example.com", with: "carol@partner.example")
        try await mallory.send(spy, to: server.udpPort)
        #expect(await mallory.response()?.statusCode == 200)
        let (_, state) = try await Self.nextNotify(mallory, port: server.udpPort)
        #expect(state?.basic == .closed)
        // A user that does not exist gets the same answers: nothing to enumerate.
        try await mallory.send(Self.subscribe(mallory, watcher: "carol", presentity: "nobody", callID: "ghost-sub")
            .replacing("carol@example.com", with: "carol@partner.example"), to: server.udpPort)
        #expect(await mallory.response()?.statusCode == 200)
        let (_, ghost) = try await Self.nextNotify(mallory, port: server.udpPort)
        #expect(ghost?.basic == .closed)
        try await mallory.send(Self.publish(mallory, presentity: "nobody", basic: "open", note: "x", callID: "ghost-pub")
            .replacing("From: <sip:nobody@example.com>", with: "From: <sip:mallory@evil.example>"), to: server.udpPort)
        #expect(await mallory.response()?.statusCode == 403)
        await mallory.close()
        try await server.stop()
    }

    @Test func accessListChangeReachesALiveSubscription() async throws {
        let dir = try RunningHomeServer.temporaryDirectory()
        let server = try await RunningHomeServer.start(dataDirectory: dir, auth: false,
                                                       users: [("alice", "a", true), ("bob", "b", true)])
        let store = try SQLiteStore(directory: dir)
        try await store.setAccessDefault(domain: "example.com", policy: .pending)
        try await Task.sleep(for: .milliseconds(2_500))  // the server's refresher runs every second
        let alice = try await TestUA(group: testEventLoops)
        try await alice.send(Self.subscribe(alice, watcher: "alice", presentity: "bob", callID: "acl-sub"), to: server.udpPort)
        #expect(await alice.response()?.statusCode == 200)
        let (pending, noState) = try await Self.nextNotify(alice, port: server.udpPort)
        #expect(pending.headers.first("Subscription-State")?.hasPrefix("pending") == true)
        #expect(noState == nil)
        // What `sipctl acl allow bob@example.com alice@example.com` writes, while the server runs.
        try await store.setAccess(user: "bob@example.com", watcher: "alice@example.com", rule: .allow)
        let started = ContinuousClock.now
        let (active, state) = try await Self.nextNotify(alice, port: server.udpPort)
        #expect(ContinuousClock.now - started < .seconds(3))
        #expect(active.headers.first("Subscription-State")?.hasPrefix("active") == true)
        #expect(state?.basic == .closed)
        try store.close()
        await alice.close()
        try await server.stop()
    }

    @Test func restartKeepsTheSubscriptionAndItsDialog() async throws {
        let dir = try RunningHomeServer.temporaryDirectory()
        var server = try await RunningHomeServer.start(dataDirectory: dir, auth: false,
                                                       users: [("alice", "a", true), ("bob", "b", true)])
        let alice = try await TestUA(group: testEventLoops)
        try await alice.send(Self.subscribe(alice, watcher: "alice", presentity: "bob", callID: "restart-sub"),
                             to: server.udpPort)
        let tag = try #require(await alice.response()?.to?.tag)
        _ = try await Self.nextNotify(alice, port: server.udpPort)
        try await Task.sleep(for: .milliseconds(300))  // past the journal's flush interval
        try await server.stop()

        server = try await RunningHomeServer.start(dataDirectory: dir, auth: false)
        let bob = try await TestUA(group: testEventLoops)
        try await bob.send(Self.publish(bob, presentity: "bob", basic: "open", note: "back", callID: "restart-pub"),
                           to: server.udpPort)
        #expect(await bob.response()?.statusCode == 200)
        let (notify, state) = try await Self.nextNotify(alice, port: server.udpPort)
        #expect(notify.from?.tag == tag)  // the same dialog as before the restart
        #expect(notify.callID == "restart-sub")
        #expect(state?.note == "back")
        await alice.close()
        await bob.close()
        try await server.stop()
    }
}
