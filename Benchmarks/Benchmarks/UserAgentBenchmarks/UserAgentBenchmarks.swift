import Benchmark
import Foundation
import Logging
import Roles
import SIPDigest
import SIPUserAgent
import Store

/// How many instant messages one `SIPUserAgent` sends per second through the home server:
/// alice sends MESSAGEs (digest-authenticated, RFC 3428) to bob over loopback TCP; bob, a
/// second user agent, answers each 200. The home server runs in the same process (release
/// build, its own event loops), so the figure is for the UA, the server and the receiving UA
/// together on one machine. Throughput = messages/s (one iteration = one MESSAGE answered).
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.throughput, .wallClock], scalingFactor: .kilo,
                                           maxDuration: .seconds(10), maxIterations: 10)
    for window in [1, 32] {
        Benchmark("UA MESSAGE through the home server (\(window) in flight)") { benchmark in
            let rig = try! await Rig.start()
            let count = benchmark.scaledIterations.count
            benchmark.startMeasurement()
            try! await rig.send(count, window: window)
            benchmark.stopMeasurement()
            await rig.stop()
        }
    }
}

/// A home server on loopback with two users, and their signed-in user agents.
struct Rig {
    let server: HomeServer
    let serverTask: Task<Void, any Error>
    let alice: SIPUserAgent
    let bob: SIPUserAgent
    let drain: Task<Void, Never>
    let directory: String

    static func start() async throws -> Rig {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ua-bench-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let store = try SQLiteStore(directory: directory)
        for user in ["alice", "bob"] {
            let ha1 = DigestHA1.compute(user: user, realm: "example.com", password: "pw-\(user)")
            try await store.addUser(UserRecord(aor: "\(user)@example.com", ha1MD5: ha1.md5, ha1SHA256: ha1.sha256))
        }
        try store.close()
        var settings = ServerSettings(serverName: "127.0.0.1")
        try settings.apply([("data", directory), ("domain", "example.com"), ("listen", "tcp:127.0.0.1:0"), ("auth", "on")])
        var logger = Logger(label: "bench.home-server")
        logger.logLevel = .error
        let server = try await HomeServer.start(settings: settings, logger: logger, drainTimeout: .milliseconds(500))
        let serverTask = Task { try await server.run() }
        let proxy = "sip:127.0.0.1:\(server.port(.tcp) ?? 0);transport=tcp"
        var agents: [SIPUserAgent] = []
        for user in ["alice", "bob"] {
            var account = SIPAccount(aor: "\(user)@example.com", password: "pw-\(user)", outboundProxy: proxy)
            account.keepaliveInterval = nil
            account.sendsDeliveryNotifications = false
            let agent = try SIPUserAgent(account: account, logger: logger)
            try await agent.start()
            agents.append(agent)
        }
        let bob = agents[1]
        let drain = Task { for await _ in bob.messages {} }
        return Rig(server: server, serverTask: serverTask, alice: agents[0], bob: bob, drain: drain, directory: directory)
    }

    /// Sends `count` MESSAGEs from alice to bob, `window` at a time.
    func send(_ count: Int, window: Int) async throws {
        let alice = self.alice
        try await withThrowingTaskGroup(of: Void.self) { group in
            var started = 0
            while started < min(window, count) {
                group.addTask { try await alice.send(text: "hello", to: "bob@example.com") }
                started += 1
            }
            while try await group.next() != nil {
                if started < count {
                    group.addTask { try await alice.send(text: "hello", to: "bob@example.com") }
                    started += 1
                }
            }
        }
    }

    func stop() async {
        await alice.stop()
        await bob.stop()
        drain.cancel()
        server.stop()
        _ = try? await serverTask.value
        try? FileManager.default.removeItem(atPath: directory)
    }
}
