import Foundation
import Logging
import Roles
import SIPCore
import SIPTestSupport
import Synchronization
import Testing

/// `--metrics`: Prometheus text at `/metrics` and `/health`, over real HTTP (curl).
@Suite(.serialized) struct MetricsEndpointTests {
    /// `curl -s -w '\n%{http_code}' URL`: the body and the status, waited for off the pool.
    static func get(_ url: String) async throws -> (Int, String) {
        try await offThePool { try blockingGet(url) }
    }

    static func blockingGet(_ url: String) throws -> (Int, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["-s", "--max-time", "10", "-w", "\n%{http_code}", url]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let status = Int(text.split(separator: "\n").last ?? "") ?? 0
        return (status, String(text.dropLast(String(status).count)))
    }

    /// The value of the sample `name{labels}` (or `name` alone) in Prometheus text.
    static func sample(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    /// A home server over `dir` for example.com with `settings` and metrics on an ephemeral
    /// port; the metrics port once bound.
    static func startWithMetrics(_ dir: String, _ extra: [(String, String)]) async throws -> (RunningHomeServer, Int) {
        var settings = ServerSettings(serverName: "127.0.0.1")
        try settings.apply([("data", dir), ("domain", "example.com"), ("metrics", "127.0.0.1:0")] + extra)
        var logger = Logger(label: "test.metrics")
        logger.logLevel = .warning
        let home = try await HomeServer.start(settings: settings, logger: logger, drainTimeout: .milliseconds(500))
        let task = Task { try await home.run() }
        let server = RunningHomeServer(server: home, task: task, dataDirectory: dir, domain: "example.com")
        let port = try #require(await home.server.metricsPort(timeout: .seconds(60)))
        return (server, port)
    }

    @Test func healthTurns503WithTheReasons() async throws {
        let down = Mutex(false)
        let endpoint = MetricsEndpoint(host: "127.0.0.1", port: 0, metrics: ServerMetrics(), refresh: {},
                                       problems: { down.withLock { $0 } ? ["archive: the archive database refuses writes"] : [] },
                                       logger: Logger(label: "test.metrics"))
        let task = Task { try await endpoint.run() }
        // A generous wait: on a loaded 2-core machine the suite's blocking neighbours can hold
        // the cooperative pool for seconds. If it never binds, say why.
        guard let port = await endpoint.boundPort(timeout: .seconds(60)) else {
            task.cancel()
            Issue.record("the metrics endpoint did not bind: \(await task.result)")
            return
        }
        let (ok, body) = try await Self.get("http://127.0.0.1:\(port)/health")
        #expect(ok == 200)
        #expect(body.hasPrefix("ok"))
        down.withLock { $0 = true }
        let (bad, reasons) = try await Self.get("http://127.0.0.1:\(port)/health")
        #expect(bad == 503)
        #expect(reasons.contains("archive: the archive database refuses writes"))
        task.cancel()
        _ = try? await task.value
    }

    /// REGISTERs (one with a wrong password), a relayed MESSAGE, a presence SUBSCRIBE and an
    /// OPTIONS over TCP, counted by method and status class, with registrations, auth failures,
    /// the archive's gauges and the state gauges (connections, subscriptions, registrations).
    @Test func countsWhatTheServerDid() async throws {
        let dir = try RunningHomeServer.temporaryDirectory()
        try await RunningHomeServer.provision([("alice", "pw-a", true), ("bob", "pw-b", true)], domain: "example.com", in: dir)
        let (server, port) = try await Self.startWithMetrics(dir, [("listen", "udp:127.0.0.1:0"), ("listen", "tcp:127.0.0.1:0"),
                                                                    ("archive", "sqlite")])

        let (bob, registered) = try await RegisteredUA.register("bob", password: "pw-b", on: server, group: testEventLoops)
        #expect(registered?.statusCode == 200)
        let (mallory, refused) = try await RegisteredUA.register("alice", password: "wrong", on: server, group: testEventLoops)
        #expect(refused?.statusCode == 401)
        await mallory.close()

        let alice = try await TestUA(group: testEventLoops)
        try await alice.send(SIPText.message(from: "alice", to: "bob", domain: "example.com", uaPort: alice.port, cseq: 1,
                                             callID: "metrics-im", body: "hello"), to: server.udpPort)
        let challenge = try #require(await alice.response())
        #expect(challenge.statusCode == 407)
        let header = try #require(TestDigest.challenge(in: challenge, header: "Proxy-Authenticate", algorithm: "MD5"))
        let credentials = TestDigest.authorization(challenge: header, user: "alice", password: "pw-a", method: "MESSAGE",
                                                   uri: "sip:bob@example.com")
        try await alice.send(SIPText.message(from: "alice", to: "bob", domain: "example.com", uaPort: alice.port, cseq: 2,
                                             callID: "metrics-im", body: "hello", proxyAuthorization: credentials),
                             to: server.udpPort)
        let relayed = try #require(await bob.request())
        try await bob.answer(relayed, 200, to: server.udpPort)
        #expect(await alice.response()?.statusCode == 200)

        // Bob watches alice's presence (407, then accepted, then the first NOTIFY).
        let watch = PresenceEndToEndTests.subscribe(bob, watcher: "bob", presentity: "alice", callID: "metrics-sub")
        try await bob.send(watch, to: server.udpPort)
        let subChallenge = try #require(await bob.response())
        #expect(subChallenge.statusCode == 407)
        let subHeader = try #require(TestDigest.challenge(in: subChallenge, header: "Proxy-Authenticate", algorithm: "MD5"))
        let subCredentials = TestDigest.authorization(challenge: subHeader, user: "bob", password: "pw-b",
                                                      method: "SUBSCRIBE", uri: "sip:alice@example.com")
        try await bob.send(PresenceEndToEndTests.subscribe(bob, watcher: "bob", presentity: "alice", callID: "metrics-sub",
                                                           cseq: 2, authorization: subCredentials), to: server.udpPort)
        #expect((200..<300).contains(await bob.response()?.statusCode ?? 0))
        _ = try await PresenceEndToEndTests.nextNotify(bob, port: server.udpPort)
        // A TCP connection, with one OPTIONS answered over it.
        let tcp = try await RawTCPPeer(port: try #require(server.server.port(.tcp)))
        try await tcp.send("""
            OPTIONS sip:example.com SIP/2.0
            Via: SIP/2.0/TCP 127.0.0.1:\(tcp.localPort);branch=z9hG4bK-metrics-tcp
            Max-Forwards: 70
            From: <sip:carol@example.com>;tag=m
            To: <sip:example.com>
            Call-ID: metrics-tcp
            CSeq: 1 OPTIONS
            Content-Length: 0


            """)
        #expect(await tcp.waitFor("SIP/2.0 "))

        let (status, text) = try await Self.get("http://127.0.0.1:\(port)/metrics")
        #expect(status == 200)
        #expect(Self.sample(text, #"sip_requests_total{method="REGISTER"}"#) == 4)  // 401, 200, 401, 401
        #expect(Self.sample(text, #"sip_requests_total{method="MESSAGE"}"#) == 2)
        #expect(Self.sample(text, #"sip_requests_total{method="SUBSCRIBE"}"#) == 2)
        #expect(Self.sample(text, #"sip_requests_total{method="OPTIONS"}"#) == 1)
        #expect((Self.sample(text, #"sip_responses_total{status_class="2xx"}"#) ?? 0) >= 3)
        #expect((Self.sample(text, #"sip_responses_total{status_class="4xx"}"#) ?? 0) >= 5)
        // State gauges, read at the scrape.
        #expect(Self.sample(text, #"sip_connections{transport="tcp"}"#) == 1)
        #expect(Self.sample(text, #"sip_connections{transport="tls"}"#) == 0)
        #expect(Self.sample(text, #"sip_subscriptions{kind="presence"}"#) == 1)
        #expect(Self.sample(text, #"sip_subscriptions{kind="roaming"}"#) == 0)
        #expect(Self.sample(text, #"sip_subscriptions{kind="list"}"#) == 0)
        #expect(Self.sample(text, "sip_registered_aors") == 1)
        #expect(Self.sample(text, "sip_registered_bindings") == 1)
        #expect(Self.sample(text, "sip_registrations_total") == 1)
        #expect(Self.sample(text, "sip_auth_failures_total") == 1)
        #expect(Self.sample(text, "sip_shed_total") == 0)
        #expect(Self.sample(text, "sip_archive_spool_depth") != nil)
        #expect(Self.sample(text, "sip_relay_latency_seconds_count") == 1)
        #expect(Self.sample(text, #"sip_transactions_in_flight{side="server"}"#) != nil)
        let (health, body) = try await Self.get("http://127.0.0.1:\(port)/health")
        #expect(health == 200, "\(body)")
        await tcp.close()
        // The server sees the close when its loop next runs: within milliseconds when idle,
        // later on a loaded machine; wait for it (up to 10 s) rather than a fixed time.
        var after = ""
        let closedBy = ContinuousClock.now + .seconds(10)
        repeat {
            try await Task.sleep(for: .milliseconds(100))
            after = try await Self.get("http://127.0.0.1:\(port)/metrics").1
        } while Self.sample(after, #"sip_connections{transport="tcp"}"#) != 0 && ContinuousClock.now < closedBy
        #expect(Self.sample(after, #"sip_connections{transport="tcp"}"#) == 0)
        await alice.close()
        await bob.close()
        try await server.stop()
    }

    /// Requests nobody authenticated hold no transaction: each challenge (401 over UDP) is
    /// sent with no Completed state, where §17.2.2 would keep each for 32 s (Timer J), so a
    /// flood of them cannot fill the table for everybody.
    @Test func challengesKeepNoServerTransactions() async throws {
        let dir = try RunningHomeServer.temporaryDirectory()
        try await RunningHomeServer.provision([("alice", "pw-a", true)], domain: "example.com", in: dir)
        let (server, port) = try await Self.startWithMetrics(dir, [("listen", "udp:127.0.0.1:0")])
        let flooder = try await TestUA(group: testEventLoops)
        for i in 0..<100 {
            let user = i.isMultiple(of: 2) ? "alice" : "nobody\(i)"
            try await flooder.send(SIPText.register(user: user, domain: "example.com", uaPort: flooder.port, cseq: 1,
                                                    callID: "flood-\(i)"), to: server.udpPort)
        }
        var challenged = 0
        while challenged < 100, let answer = await flooder.response() {
            #expect(answer.statusCode == 401)
            challenged += 1
        }
        #expect(challenged == 100)
        let (_, text) = try await Self.get("http://127.0.0.1:\(port)/metrics")
        #expect(Self.sample(text, #"sip_transactions_in_flight{side="server"}"#) == 0)
        await flooder.close()
        try await server.stop()
    }

    /// The executable: `metrics http HOST:PORT` after the listeners; `--log-requests` writes
    /// one line per relayed request, without the body.
    @Test func executableAnnouncesMetricsAndLogsRequests() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: HomeServerCommandTests.executable.path), "build home-server first")
        let data = try RunningHomeServer.temporaryDirectory()
        try await RunningHomeServer.provision([("alice", "a", true), ("bob", "b", true)], domain: "example.com", in: data)
        let run = try HomeServerCommandTests.launch([
            "--data", data, "--listen", "udp:127.0.0.1:0", "--domain", "example.com", "--auth", "off",
            "--log-requests", "--metrics", "127.0.0.1:0"])
        let lines = await HomeServerCommandTests.lines(run.stdout, count: 2)
        #expect(lines.count == 2)
        let udp = try #require(lines.first.flatMap { $0.split(separator: ":").last.flatMap { Int($0) } })
        let metricsLine = try #require(lines.last)
        #expect(metricsLine.hasPrefix("metrics http 127.0.0.1:"))
        let http = try #require(metricsLine.split(separator: ":").last.flatMap { Int($0) })

        let bob = try await TestUA(group: testEventLoops)
        try await bob.send(SIPText.register(user: "bob", domain: "example.com", uaPort: bob.port, cseq: 1, callID: "reg-b"),
                           to: udp)
        #expect(await bob.response()?.statusCode == 200)
        let alice = try await TestUA(group: testEventLoops)
        try await alice.send(SIPText.message(from: "alice", to: "bob", domain: "example.com", uaPort: alice.port, cseq: 1,
                                             callID: "logged-im", body: "top-secret-body"), to: udp)
        let relayed = try #require(await bob.request())
        try await bob.answer(relayed, 202, to: udp)
        #expect(await alice.response()?.statusCode == 202)
        let (_, text) = try await Self.get("http://127.0.0.1:\(http)/metrics")
        #expect(Self.sample(text, #"sip_requests_total{method="MESSAGE"}"#) == 1)

        run.process.terminate()
        #expect(await HomeServerCommandTests.wait(run.process))
        let log = String(decoding: run.stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let relayedLines = log.split(separator: "\n").filter { $0.contains("relayed") && $0.contains("logged-im") }
        #expect(relayedLines.count == 1, "\(log)")
        let line = String(relayedLines.first ?? "")
        for part in ["sip.method=MESSAGE", "sip.status=202", "sip.from=sip:alice@example.com", "sip.to=sip:bob@example.com",
                     "sip.latency_ms="] {
            #expect(line.contains(part), "\(line)")
        }
        #expect(!log.contains("top-secret-body"))
        await alice.close()
        await bob.close()
    }

    /// The server's own answers to requests nobody authenticated keep no transaction (over
    /// UDP a Completed one would hold a table slot 32 s): OPTIONS to the server, and MESSAGEs
    /// from outside to a user who does not exist, leave the server table empty.
    @Test func ownAnswersToStrangersKeepNoTransaction() async throws {
        let dir = try RunningHomeServer.temporaryDirectory()
        try await RunningHomeServer.provision([("bob", "pw-b", true)], domain: "example.com", in: dir)
        let (server, port) = try await Self.startWithMetrics(dir, [("listen", "udp:127.0.0.1:0")])
        let stranger = try await TestUA(group: testEventLoops)
        for i in 0..<20 {
            try await stranger.send("""
                OPTIONS sip:example.com SIP/2.0
                Via: SIP/2.0/UDP 127.0.0.1:\(stranger.port);branch=z9hG4bK-opt-\(i);rport
                Max-Forwards: 70
                From: <sip:m@evil.example>;tag=m\(i)
                To: <sip:example.com>
                Call-ID: opt-\(i)
                CSeq: 1 OPTIONS
                Content-Length: 0


                """, to: server.udpPort)
            #expect(await stranger.response()?.statusCode == 200)
            try await stranger.send(SIPText.message(from: "m", to: "nobody\(i)", domain: "example.com", uaPort: stranger.port, cseq: 1,
                                                    callID: "nobody-\(i)", body: "hi").replacing("From: <sip:m@example.com>",
                                                                                             with: "From: <sip:m@evil.example>"),
                                    to: server.udpPort)
            let answer = try #require(await stranger.response())
            #expect(answer.statusCode >= 400, "got \(answer.statusCode)")
        }
        let (_, text) = try await Self.get("http://127.0.0.1:\(port)/metrics")
        let line = text.split(separator: "\n").first { $0.hasPrefix("sip_transactions_in_flight") && $0.contains("server") }
        #expect(line.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) } == 0, "\(line ?? "no gauge")")
        await stranger.close()
        try await server.stop()
    }
}
