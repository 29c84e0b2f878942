import Foundation
import Logging
import NIOCore
import NIOPosix
import Roles
import SIPDigest
import SIPUserAgent
import Store
import Testing

/// The project's real home server on loopback (listeners on port 0, the system picks the
/// ports) over a real SQLite file in a temporary folder, as the end-to-end tests start it.
struct HomeServerFixture {
    let server: HomeServer
    let task: Task<Void, any Error>
    let dataDirectory: String
    let domain: String

    var udpPort: Int { server.port(.udp) ?? 0 }
    var tcpPort: Int { server.port(.tcp) ?? 0 }

    /// - Parameters:
    ///   - users: `(user, password)` provisioned in `domain` with both HA1s.
    ///   - digestAlgorithms: `--digest-algorithms` (nil: the default, MD5 alone).
    ///   - watchPolicy: the domain's default access for watchers (`sipctl acl default`).
    ///   - tcpPort: the TCP listener's port (0: the system picks one).
    ///   - dataDirectory: an existing data folder to serve again (a restart); nil: a new one.
    static func start(domain: String = "example.com", users: [(String, String)], digestAlgorithms: String? = nil,
                      watchPolicy: WatchPolicy? = nil, tcpPort: Int = 0,
                      dataDirectory: String? = nil) async throws -> HomeServerFixture {
        let dir = dataDirectory ?? FileManager.default.temporaryDirectory.appendingPathComponent("ua-home-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let store = try SQLiteStore(directory: dir)
        for (user, password) in users {
            let ha1 = DigestHA1.compute(user: user, realm: domain, password: password)
            try await store.addUser(UserRecord(aor: "\(user)@\(domain)", ha1MD5: ha1.md5, ha1SHA256: ha1.sha256))
        }
        if let watchPolicy { try await store.setAccessDefault(domain: domain, policy: watchPolicy) }
        try store.close()
        var settings = ServerSettings(serverName: "127.0.0.1")
        try settings.apply([("data", dir), ("domain", domain), ("listen", "udp:127.0.0.1:0"), ("listen", "tcp:127.0.0.1:\(tcpPort)"),
                            ("auth", "on")])
        if let digestAlgorithms { try settings.apply([("digest-algorithms", digestAlgorithms)]) }
        var logger = Logger(label: "test.ua.home-server")
        logger.logLevel = .warning
        let server = try await HomeServer.start(settings: settings, logger: logger, drainTimeout: .milliseconds(500))
        let task = Task { try await server.run() }
        return HomeServerFixture(server: server, task: task, dataDirectory: dir, domain: domain)
    }

    /// The outbound proxy URI of this server for `transport`.
    func proxy(_ transport: String = "udp") -> String {
        "sip:127.0.0.1:\(transport == "tcp" ? tcpPort : udpPort);transport=\(transport)"
    }

    /// A user agent for `user` (not started), with short intervals where a test wants them.
    func userAgent(_ user: String, password: String, transport: String = "udp",
                   configure: (inout SIPAccount) -> Void = { _ in }) throws(SIPUserAgentError) -> SIPUserAgent {
        var account = SIPAccount(aor: "\(user)@\(domain)", password: password, outboundProxy: proxy(transport))
        configure(&account)
        var logger = Logger(label: "test.ua.\(user)")
        logger.logLevel = .warning
        return try SIPUserAgent(account: account, logger: logger)
    }

    /// Stops the server and, unless `keepingData` (for a restart), removes its data folder.
    func stop(keepingData: Bool = false) async throws {
        server.stop()
        try await task.value
        if !keepingData { try? FileManager.default.removeItem(atPath: dataDirectory) }
    }
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes; returns whether it held.
func eventually(timeout: Duration = .seconds(10), _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return await condition()
}

