import SIPUserAgent
import Testing

/// RFC 3428 MESSAGE both ways between two UAs through the home server, and RFC 5438
/// delivery notifications.
@Suite(.serialized, .timeLimit(.minutes(2))) struct MessagingTests {
    @Test(arguments: ["udp", "tcp"])
    func messagesBothWays(transport: String) async throws {
        let server = try await HomeServerFixture.start(users: [("alice", "secret-a"), ("bob", "secret-b")])
        let alice = try server.userAgent("alice", password: "secret-a", transport: transport)
        let bob = try server.userAgent("bob", password: "secret-b", transport: transport)
        try await alice.start()
        try await bob.start()

        let sent = try await alice.send(text: "hello bob ✓", to: "bob@example.com")
        #expect(sent.status == 200)
        var bobsInbox = bob.messages.makeAsyncIterator()
        let received = try #require(await bobsInbox.next())
        #expect(received.text == "hello bob ✓")
        #expect(received.from == "alice@example.com")
        #expect(received.contentType == "text/plain")

        try await bob.send(text: "hi alice", to: "sip:alice@example.com")
        var alicesInbox = alice.messages.makeAsyncIterator()
        let answer = try #require(await alicesInbox.next())
        #expect(answer.text == "hi alice")
        #expect(answer.from == "bob@example.com")

        // A second message reuses the cached challenge (nonce count 2) and still goes through.
        try await alice.send(text: "again", to: "bob")
        #expect(await bobsInbox.next()?.text == "again")

        await alice.stop()
        await bob.stop()
        try await server.stop()
    }

    @Test func messageToSomeoneSignedOutIsRejectedWith480() async throws {
        let server = try await HomeServerFixture.start(users: [("alice", "secret-a"), ("bob", "secret-b")])
        let alice = try server.userAgent("alice", password: "secret-a")
        try await alice.start()
        await #expect(throws: SIPUserAgentError.rejected(status: 480, reason: "Temporarily Unavailable")) {
            try await alice.send(text: "anyone?", to: "bob@example.com")
        }
        await alice.stop()
        try await server.stop()
    }

    /// RFC 5438: alice asks for a positive delivery notification; bob's UA receives the text
    /// with the request, sends `message/imdn+xml` back, and alice gets it for her Message-ID.
    @Test func deliveryNotificationRoundTrip() async throws {
        let server = try await HomeServerFixture.start(users: [("alice", "secret-a"), ("bob", "secret-b")])
        let alice = try server.userAgent("alice", password: "secret-a")
        let bob = try server.userAgent("bob", password: "secret-b", transport: "tcp")
        try await alice.start()
        try await bob.start()

        let sent = try await alice.send(text: "did you get this?", to: "bob@example.com", requestingDeliveryNotification: true)
        let messageID = try #require(sent.messageID)
        var inbox = bob.messages.makeAsyncIterator()
        let received = try #require(await inbox.next())
        #expect(received.text == "did you get this?")
        #expect(received.requestsDeliveryNotification)
        #expect(received.messageID == messageID)

        let notification = try await alice.deliveryNotification(for: sent, timeout: .seconds(10))
        #expect(notification.messageID == messageID)
        #expect(notification.status == "delivered")
        #expect(notification.from == "bob@example.com")

        // A message sent without asking gets none, and waiting for one says so.
        let plain = try await alice.send(text: "no receipt", to: "bob@example.com")
        #expect(plain.messageID == nil)
        #expect(await inbox.next()?.requestsDeliveryNotification == false)
        await #expect(throws: SIPUserAgentError.self) { try await alice.deliveryNotification(for: plain) }

        await alice.stop()
        await bob.stop()
        try await server.stop()
    }
}
