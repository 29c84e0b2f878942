import Foundation
import Presence
import SIPCore
import Store
import Testing

/// RFC 4662 list subscriptions to a user's roaming list (`sip:USER+contacts@DOMAIN`) over
/// real TCP connections, in the form liblinphone reads: `multipart/related` with the RLMI part
/// first, `Content-Id` values equal to the RLMI `cid`s, `Event: Presence`.
@Suite(.serialized) struct ResourceListEndToEndTests {
    /// Over TCP (as linphonec does): the NOTIFYs, over 1300 bytes, come back on the connection.
    static func subscribe(_ ua: RawTCPPeer, from user: String, list: String, callID: String, cseq: Int = 1,
                          toTag: String? = nil, expires: Int = 600, eventlist: Bool = true) -> String {
        """
        SUBSCRIBE sip:\(list)+contacts@example.com SIP/2.0
        Via: SIP/2.0/TCP 127.0.0.1:\(ua.localPort);branch=z9hG4bK-rls-\(callID)-\(cseq)
        Max-Forwards: 70
        From: <sip:\(user)@example.com>;tag=l-\(callID)
        To: <sip:\(list)+contacts@example.com>\(toTag.map { ";tag=\($0)" } ?? "")
        Call-ID: \(callID)
        CSeq: \(cseq) SUBSCRIBE
        Contact: <sip:\(user)@127.0.0.1:\(ua.localPort);transport=tcp>
        Event: presence
        \(eventlist ? "Supported: eventlist\n" : "")Accept: multipart/related, application/rlmi+xml, application/pidf+xml
        Expires: \(expires)
        Content-Length: 0


        """
    }

    static func text(_ request: SIPRequest) -> String { String(decoding: request.body, as: UTF8.self) }

    /// Reads what the peer received as SIP messages, in order, from `offset` (bytes).
    final class Reader {
        let peer: RawTCPPeer
        var offset = 0
        init(_ peer: RawTCPPeer) { self.peer = peer }

        /// The next whole message (waits up to 10 s).
        func next() async throws -> SIPMessage? {
            for _ in 0..<1000 {
                let bytes = Array(peer.text.utf8)
                if offset < bytes.count, let end = Self.messageEnd(bytes, from: offset) {
                    let message = try SIPParser.parseDatagram(bytes[offset..<end])
                    offset = end
                    return message
                }
                try? await Task.sleep(for: .milliseconds(10))
            }
            return nil
        }

        func response() async throws -> SIPResponse? {
            while let m = try await next() { if case .response(let r) = m, r.statusCode >= 200 { return r } }
            return nil
        }

        /// The next NOTIFY, answered 200.
        func notify() async throws -> SIPRequest? {
            while let m = try await next() {
                guard case .request(let r) = m, r.method == .notify else { continue }
                let ok = SIPResponse(responding: r, statusCode: 200)
                try await peer.send(String(decoding: SIPMessage.response(ok).serialized(), as: UTF8.self))
                return r
            }
            return nil
        }

        static func messageEnd(_ bytes: [UInt8], from start: Int) -> Int? {
            let crlf2: [UInt8] = [13, 10, 13, 10]
            var i = start
            while i + 4 <= bytes.count {
                if Array(bytes[i..<i + 4]) == crlf2 {
                    let head = String(decoding: bytes[start..<i], as: UTF8.self)
                    let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                        .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                    return i + 4 + length <= bytes.count ? i + 4 + length : nil
                }
                i += 1
            }
            return nil
        }
    }

    /// With authentication on, a list SUBSCRIBE without credentials is challenged and makes
    /// nothing: no list subscription, so no back-end subscription to the members either (an
    /// unauthenticated peer cannot make the server subscribe anywhere as the owner).
    @Test func anUnauthenticatedListSubscribeIsChallenged() async throws {
        let dir = try RunningHomeServer.temporaryDirectory()
        try await RunningHomeServer.provision([("alice", "a", true)], domain: "example.com", in: dir)
        do {
            let store = try SQLiteStore(directory: dir)
            _ = try await store.apply(user: "alice@example.com",
                                      .setContact(RoamingContact(uri: "carol@example.org", name: "Carol", groups: [])))
            try store.close()
        }
        let server = try await RunningHomeServer.start(dataDirectory: dir, auth: true)
        let attacker = try await RawTCPPeer(port: server.tcpPort)
        let reader = Reader(attacker)
        try await attacker.send(Self.subscribe(attacker, from: "alice", list: "alice", callID: "forged-list"))
        let answer = try #require(try await reader.response())
        #expect(answer.statusCode == 407)
        #expect(server.server.server.roaming.subscriptionCount == 0)
        await attacker.close()
        try await server.stop()
    }

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
        let alice = try await RawTCPPeer(port: server.tcpPort)
        let reader = Reader(alice)

        // Without eventlist support: 421 (RFC 4662 §6); someone else's list: 403.
        try await alice.send(Self.subscribe(alice, from: "alice", list: "alice", callID: "no-el", eventlist: false))
        let refused = try #require(try await reader.response())
        #expect(refused.statusCode == 421)
        #expect(refused.headers.first("Require") == "eventlist")
        try await alice.send(Self.subscribe(alice, from: "alice", list: "dave", callID: "other"))
        #expect(try await reader.response()?.statusCode == 403)

        try await alice.send(Self.subscribe(alice, from: "alice", list: "alice", callID: "rls"))
        let ok = try #require(try await reader.response())
        #expect(ok.statusCode == 200)
        #expect(ok.headers.first("Require") == "eventlist")
        var notify = try #require(try await reader.notify())
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
        notify = try #require(try await reader.notify())
        body = Self.text(notify)
        #expect(body.contains(#"fullState="false""#))
        #expect(body.contains(#"version="1""#))
        #expect(body.contains("<basic>closed</basic>"))
        #expect(!body.contains("carol@example.org"))

        // Unsubscribing: 200, then a final NOTIFY with full state.
        try await alice.send(Self.subscribe(alice, from: "alice", list: "alice", callID: "rls", cseq: 2,
                                            toTag: ok.to?.tag ?? nil, expires: 0))
        let unsubscribed = try await reader.response()
        #expect(unsubscribed?.statusCode == 200)
        notify = try #require(try await reader.notify())
        #expect(notify.headers.first("Subscription-State")?.hasPrefix("terminated") == true)
        await alice.close()
        await bob.close()
        try await server.stop()
    }
}
