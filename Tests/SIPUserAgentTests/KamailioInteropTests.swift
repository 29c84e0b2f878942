import Logging
import SIPTestSupport
import SIPUserAgent
import Testing

/// The user agent against a peer nobody here wrote: Debian's Kamailio with the bench's
/// presence configuration (registrar, PUBLISH/SUBSCRIBE with PIDF, no authentication).
@Suite(.serialized, .timeLimit(.minutes(2))) struct KamailioInteropTests {
    static func userAgent(_ user: String, _ kamailio: Kamailio, transport: String) throws -> SIPUserAgent {
        var account = SIPAccount(aor: "\(user)@example.com", password: "unused",
                                 outboundProxy: "sip:127.0.0.1:\(kamailio.port);transport=\(transport)")
        account.keepaliveInterval = nil
        var logger = Logger(label: "test.ua.kamailio.\(user)")
        logger.logLevel = .warning
        return try SIPUserAgent(account: account, logger: logger)
    }

    @Test(arguments: ["udp", "tcp"])
    func registerMessageAndPresenceThroughKamailio(transport: String) async throws {
        let kamailio = try await Kamailio.start()
        defer { kamailio.stop() }
        let alice = try Self.userAgent("alice", kamailio, transport: transport)
        let bob = try Self.userAgent("bob", kamailio, transport: transport)
        try await alice.start()
        try await bob.start()
        #expect(alice.registration.isRegistered)
        #expect(bob.registration.isRegistered)

        // MESSAGE: Kamailio looks bob up in its location table and relays.
        var inbox = bob.messages.makeAsyncIterator()
        let sent = try await alice.send(text: "hello through kamailio", to: "bob@example.com")
        #expect(sent.status == 200)
        let received = await inbox.next()
        #expect(received?.text == "hello through kamailio", "\(kamailio.log.suffix(2000))")
        #expect(received?.from == "alice@example.com")

        // Presence: bob publishes (RFC 3903), alice watches (RFC 6665) and sees it.
        try await bob.publish(state: .away, note: "at lunch")
        let watch = try await alice.watch("bob@example.com")
        // A state that never comes ends the watch after 20 s (not at the suite's time limit),
        // and the failure shows what did come.
        let watchdog = Task {
            try await Task.sleep(for: .seconds(20))
            watch.cancel()
        }
        defer { watchdog.cancel() }
        var states = watch.makeAsyncIterator()
        var shown: [String] = []
        var seen = await states.next()
        while let state = seen, state.note != "at lunch" {
            shown.append("\(state.status) \(state.note ?? "-")")
            seen = await states.next()
        }
        #expect(seen?.status == .away, "states before: \(shown); Kamailio: \(kamailio.log.suffix(2000))")
        #expect(seen?.note == "at lunch")
        try await bob.publish(state: .busy, note: "on a deadline")  // a modification (SIP-If-Match)
        while let state = seen, state.note != "on a deadline" {
            shown.append("\(state.status) \(state.note ?? "-")")
            seen = await states.next()
        }
        #expect(seen?.status == .busy, "states before: \(shown)")

        watch.cancel()
        await alice.stop()
        await bob.stop()
    }
}
