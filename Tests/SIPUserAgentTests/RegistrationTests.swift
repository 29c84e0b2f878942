import SIPUserAgent
import SIPTestSupport
import Testing

/// The user agent's account against the real home server over loopback sockets: digest
/// with both algorithms, refresh before expiry, unregister on stop and on cancellation.
@Suite(.serialized, .timeLimit(.minutes(2))) struct RegistrationTests {
    @Test(arguments: ["udp", "tcp"])
    func registersWithMD5(transport: String) async throws {
        let server = try await HomeServerFixture.start(users: [("alice", "secret-a")])
        let alice = try server.userAgent("alice", password: "secret-a", transport: transport)
        try await alice.start()
        #expect(alice.registration.isRegistered)
        #expect(alice.registration.lastStatus == 200)
        #expect(alice.registration.expires == 3600)
        await alice.stop()
        #expect(!alice.registration.isRegistered)
        try await server.stop()
    }

    /// Only SHA-256 is offered (RFC 8760): the registration succeeds only if the UA answers it.
    @Test func registersWithSHA256() async throws {
        let server = try await HomeServerFixture.start(users: [("alice", "secret-a")], digestAlgorithms: "SHA-256")
        let alice = try server.userAgent("alice", password: "secret-a")
        try await alice.start()
        #expect(alice.registration.isRegistered)
        await alice.stop()
        try await server.stop()
    }

    /// Bound to all interfaces, the UA names the address that routes to the proxy in Via and
    /// Contact (here 127.0.0.1), so the server can still reach it.
    @Test func registersWhenBoundToAllInterfaces() async throws {
        let server = try await HomeServerFixture.start(users: [("alice", "secret-a"), ("bob", "secret-b")])
        let alice = try server.userAgent("alice", password: "secret-a") { $0.localHost = "0.0.0.0" }
        let bob = try server.userAgent("bob", password: "secret-b")
        try await alice.start()
        try await bob.start()
        try await bob.send(text: "reachable?", to: "alice@example.com")
        var inbox = alice.messages.makeAsyncIterator()
        #expect(await inbox.next()?.text == "reachable?")
        await alice.stop()
        await bob.stop()
        try await server.stop()
    }

    @Test func wrongPasswordIsRejectedWithTheStatus() async throws {
        let server = try await HomeServerFixture.start(users: [("alice", "secret-a")])
        let alice = try server.userAgent("alice", password: "wrong")
        await #expect(throws: SIPUserAgentError.self) { try await alice.start() }
        do {
            try await server.userAgent("alice", password: "wrong").start()
            Issue.record("a wrong password registered")
        } catch {
            #expect(error.status == 401 || error.status == 403, "\(error)")
        }
        try await server.stop()
    }

    /// Asks for 10 s: the registrar answers 423 with Min-Expires 60 (RFC 3261 §10.2.8), the UA
    /// asks again for 60; with a 58 s margin it refreshes 2 s later (pre-emptive credentials
    /// with the next nonce count), and again.
    @Test func refreshesBeforeExpiry() async throws {
        let server = try await HomeServerFixture.start(users: [("alice", "secret-a")])
        let alice = try server.userAgent("alice", password: "secret-a", transport: "tcp") { account in
            account.registrationExpires = 10
            account.refreshMargin = .seconds(58)
        }
        try await alice.start()
        #expect(alice.registration.expires == 60)
        #expect(await eventually(timeout: .seconds(15)) { alice.registration.registrations >= 3 })
        #expect(alice.registration.isRegistered)
        await alice.stop()
        try await server.stop()
    }

    /// RFC 5626 §4.4.1: the server goes away and comes back on the same port; the closed flow
    /// is noticed (a keepalive cannot be sent), and the UA registers again over a new
    /// connection, which carries messages to it again.
    @Test func registersAgainAfterTheFlowIsLost() async throws {
        let port = try TestPorts.loopback()
        let users = [("alice", "secret-a"), ("bob", "secret-b")]
        let first = try await HomeServerFixture.start(users: users, tcpPort: port)
        let alice = try first.userAgent("alice", password: "secret-a", transport: "tcp") { account in
            account.keepaliveInterval = .seconds(1)
        }
        try await alice.start()
        try await first.stop(keepingData: true)
        #expect(await eventually { !alice.registration.isRegistered })

        let second = try await HomeServerFixture.start(users: [], tcpPort: port, dataDirectory: first.dataDirectory)
        #expect(await eventually(timeout: .seconds(20)) { alice.registration.flowRecoveries == 1 })
        #expect(alice.registration.isRegistered)
        let bob = try second.userAgent("bob", password: "secret-b", transport: "tcp")
        try await bob.start()
        try await bob.send(text: "welcome back", to: "alice@example.com")
        var inbox = alice.messages.makeAsyncIterator()
        #expect(await inbox.next()?.text == "welcome back")
        await bob.stop()
        await alice.stop()
        try await second.stop()
    }

    /// Cancelling the task that runs the UA unregisters it: a third party's MESSAGE that was
    /// delivered before is answered 480 by the server after.
    @Test func cancellationUnregisters() async throws {
        let server = try await HomeServerFixture.start(users: [("alice", "secret-a"), ("bob", "secret-b")])
        let alice = try server.userAgent("alice", password: "secret-a")
        let bob = try server.userAgent("bob", password: "secret-b")
        try await bob.start()
        let running = Task { try await alice.run() }
        #expect(await eventually { alice.registration.isRegistered })
        let delivered = try await bob.send(text: "are you there?", to: "alice@example.com")
        #expect(delivered.status == 200)

        running.cancel()
        try await running.value
        #expect(!alice.registration.isRegistered)
        do {
            try await bob.send(text: "still there?", to: "alice@example.com")
            Issue.record("a MESSAGE reached alice after her UA was cancelled")
        } catch {
            #expect(error == .rejected(status: 480, reason: "Temporarily Unavailable"))
        }
        await bob.stop()
        try await server.stop()
    }
}
