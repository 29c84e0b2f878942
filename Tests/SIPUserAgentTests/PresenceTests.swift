import SIPUserAgent
import SIPTestSupport
import Testing

/// RFC 3903 publication and RFC 6665/3856 watching between two UAs through the home server,
/// and RFC 3857 watcher info for a pending watcher.
@Suite(.serialized, .timeLimit(.minutes(2))) struct PresenceTests {
    @Test(arguments: ["udp", "tcp"])
    func publishedStateAndNoteReachTheWatcher(transport: String) async throws {
        let server = try await HomeServerFixture.start(users: [("alice", "secret-a"), ("bob", "secret-b")])
        let alice = try server.userAgent("alice", password: "secret-a", transport: transport)
        let bob = try server.userAgent("bob", password: "secret-b", transport: transport)
        try await alice.start()
        try await bob.start()

        let watch = try await alice.watch("bob@example.com")
        var states = watch.makeAsyncIterator()
        let first = try #require(await states.next())
        #expect(first.aor == "bob@example.com")
        #expect(first.status == .online)  // registered, never published: open

        try await bob.publish(state: .away, note: "in a meeting")
        var seen = first
        while seen.status != .away, let next = await states.next() { seen = next }
        #expect(seen.status == .away)
        #expect(seen.note == "in a meeting")
        #expect(seen.description == "bob@example.com away \"in a meeting\"")

        try await bob.publish(state: .busy, note: nil)  // a modification (SIP-If-Match)
        while seen.status != .busy, let next = await states.next() { seen = next }
        #expect(seen.status == .busy)
        #expect(seen.note == nil)

        await bob.stop()  // removes the publication and unregisters: closed
        while seen.status != .offline, let next = await states.next() { seen = next }
        #expect(seen.status == .offline)

        watch.cancel()
        await alice.stop()
        try await server.stop()
    }

    /// RFC 6665 §4.1.2.2: the server restarts without its data, so the refresh of alice's
    /// subscription is answered 481; her watch subscribes again and goes on (before, the
    /// sequence finished).
    @Test func aSubscriptionTheNotifierForgotIsMadeAgain() async throws {
        let users = [("alice", "secret-a"), ("bob", "secret-b")]
        let port = try TestPorts.loopback()
        var server = try await HomeServerFixture.start(users: users, tcpPort: port)
        let alice = try server.userAgent("alice", password: "secret-a", transport: "tcp") { account in
            account.subscriptionExpires = 60
            account.refreshMargin = .seconds(58)  // refreshed every 2 s
        }
        try await alice.start()
        let watch = try await alice.watch("bob")
        var states = watch.makeAsyncIterator()
        var seen = try #require(await states.next())
        #expect(seen.status == .offline)

        try await server.stop()
        server = try await HomeServerFixture.start(users: users, tcpPort: port)  // a new, empty store
        let bob = try server.userAgent("bob", password: "secret-b", transport: "tcp")
        try await bob.start()
        try await bob.publish(state: .away, note: "back soon")
        while seen.status != .away, let next = await states.next() { seen = next }
        #expect(seen.status == .away)
        #expect(seen.note == "back soon")

        watch.cancel()
        await alice.stop()
        await bob.stop()
        try await server.stop()
    }

    /// Short intervals: the publication and the subscription are refreshed (SIP-If-Match;
    /// SUBSCRIBE in the dialog) and keep working.
    @Test func publicationAndSubscriptionAreRefreshed() async throws {
        let server = try await HomeServerFixture.start(users: [("alice", "secret-a"), ("bob", "secret-b")])
        let alice = try server.userAgent("alice", password: "secret-a") { account in
            account.subscriptionExpires = 60
            account.refreshMargin = .seconds(58)
        }
        let bob = try server.userAgent("bob", password: "secret-b") { account in
            account.publicationExpires = 60
            account.refreshMargin = .seconds(58)
        }
        try await alice.start()
        try await bob.start()
        try await bob.publish(state: .onThePhone, note: "call")
        let watch = try await alice.watch("bob")
        var states = watch.makeAsyncIterator()
        var seen = try #require(await states.next())
        while seen.status != .onThePhone, let next = await states.next() { seen = next }
        // Each subscription refresh brings a NOTIFY (RFC 6665 §4.2.1.2): two more arrive,
        // still showing the published state, so both refreshes worked.
        for _ in 0..<2 {
            seen = try #require(await states.next())
            #expect(seen.status == .onThePhone)
            #expect(seen.note == "call")
        }
        watch.cancel()
        await alice.stop()
        await bob.stop()
        try await server.stop()
    }

    /// With the domain's default access `pending`, alice's watch is pending and bob's watcher
    /// info lists her as a pending watcher; cancelling the task that reads her watch ends her
    /// subscription (SUBSCRIBE with Expires: 0), which bob's watcher info then shows.
    @Test func pendingWatcherShowsUpInWatcherInfo() async throws {
        let server = try await HomeServerFixture.start(users: [("alice", "secret-a"), ("bob", "secret-b")],
                                                       watchPolicy: .pending)
        let alice = try server.userAgent("alice", password: "secret-a")
        let bob = try server.userAgent("bob", password: "secret-b")
        try await alice.start()
        try await bob.start()
        let watchers = try await bob.watchers()
        var lists = watchers.makeAsyncIterator()
        #expect(await lists.next()?.isEmpty == true)

        let watch = try await alice.watch("bob@example.com")
        var states = watch.makeAsyncIterator()
        #expect(await states.next()?.subscriptionState == .pending)
        var list: [WatcherEntry] = []
        while !list.contains(where: { $0.uri == "sip:alice@example.com" }), let next = await lists.next() { list = next }
        let entry = try #require(list.first { $0.uri == "sip:alice@example.com" })
        #expect(entry.status == .pending)

        let reader = Task { for await _ in watch {} }
        reader.cancel()
        await reader.value
        func stillWatching(_ list: [WatcherEntry]) -> Bool {
            list.contains { $0.uri == "sip:alice@example.com" && $0.status != .terminated }
        }
        while stillWatching(list), let next = await lists.next() { list = next }
        #expect(!stillWatching(list))

        watchers.cancel()
        await alice.stop()
        await bob.stop()
        try await server.stop()
    }
}
