import ArchivePostgres
import Foundation
import SIPCore
import SIPTestSupport
import Testing

/// `--directory postgresql://...` (issue 11): users (and access lists, directory fields) in one
/// PostgreSQL shared by several home servers, provisioned with `sipctl --directory`; each
/// server serves them from memory and sees a change within a couple of seconds. Real
/// `home-server` and `sipctl` processes against a throwaway cluster.
@Suite(.serialized) struct SharedDirectoryTests {
    static func sipctl(_ url: String, _ arguments: [String]) async throws -> (Int32, String, String) {
        try await ArchiveCrashTests.sipctl(["--directory", url] + arguments)
    }

    /// Starts `home-server` on the shared directory; returns it and its UDP port.
    static func startServer(_ name: String, directory url: String) async throws -> (Process, Int) {
        let run = try HomeServerCommandTests.launch([
            "--data", try RunningHomeServer.temporaryDirectory(), "--listen", "udp:127.0.0.1:0",
            "--domain", "example.com", "--server-name", name, "--log-level", "critical", "--directory", url])
        let line = try #require(await HomeServerCommandTests.lines(run.stdout, count: 1).first,
                                "home-server printed no listening line")
        let port = try #require(line.split(separator: ":").last.flatMap { Int($0) })
        return (run.process, port)
    }

    /// REGISTERs `user` with `password` (answering the 401 challenge); the final status.
    static func register(_ user: String, password: String, port: Int) async throws -> Int? {
        let ua = try await TestUA(group: testEventLoops)
        defer { Task { await ua.close() } }
        let callID = "reg-\(user)-\(UUID().uuidString)"
        try await ua.send(SIPText.register(user: user, domain: "example.com", uaPort: ua.port, cseq: 1, callID: callID),
                          to: port)
        guard let first = await ua.response() else { return nil }
        guard first.statusCode == 401 else { return first.statusCode }
        let challenge = TestDigest.challenge(in: first, header: "WWW-Authenticate", algorithm: "MD5") ?? ""
        let authorization = TestDigest.authorization(challenge: challenge, user: user, password: password,
                                                     method: "REGISTER", uri: "sip:example.com")
        try await ua.send(SIPText.register(user: user, domain: "example.com", uaPort: ua.port, cseq: 2, callID: callID,
                                           authorization: authorization), to: port)
        return await ua.response()?.statusCode
    }

    /// Registers until the answer is `status` (a running server refreshes its cache about once
    /// a second); the time it took, nil when it never came within `timeout`. Once a second at
    /// most: five failed digests of one user from one address within 5 minutes cool it off.
    static func eventually(_ status: Int, _ user: String, password: String, port: Int,
                           timeout: Duration = .seconds(5)) async throws -> Duration? {
        let start = ContinuousClock.now
        while ContinuousClock.now - start < timeout {
            if try await register(user, password: password, port: port) == status { return ContinuousClock.now - start }
            try await Task.sleep(for: .seconds(1))
        }
        return nil
    }

    @Test func twoHomeServersShareOneDirectory() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: HomeServerCommandTests.executable.path), "build home-server first")
        try #require(ThrowawayCluster.binaries != nil, "install postgresql (scripts/test does)")
        let port = try TestPorts.loopback()
        let cluster = try await offThePool { try ThrowawayCluster(port: port) }  // initdb: seconds
        try await withBlockingCleanup({ cluster.destroy() }) { try await shareOneDirectory(cluster.url) }
    }

    private func shareOneDirectory(_ url: String) async throws {

        // Added once with sipctl (which creates the schema) ...
        var (status, out, err) = try await Self.sipctl(url, ["user", "add", "alice@example.com", "--password", "a1"])
        #expect(status == 0, "\(err)")
        #expect(out == "added alice@example.com\n")
        (status, _, err) = try await Self.sipctl(url, ["user", "add", "alice@example.com", "--password", "x"])
        #expect(status == 1)
        #expect(err == "sipctl: user alice@example.com exists already\n")

        // ... seen by both servers.
        let (h1, port1) = try await Self.startServer("h1.example", directory: url)
        let (h2, port2) = try await Self.startServer("h2.example", directory: url)
        defer { h1.terminate(); h2.terminate() }
        #expect(try await Self.register("alice", password: "a1", port: port1) == 200)
        #expect(try await Self.register("alice", password: "a1", port: port2) == 200)

        // A password changed with sipctl while they run: the new one works, the old one not.
        (status, _, err) = try await Self.sipctl(url, ["user", "set-password", "alice@example.com", "--password", "a2"])
        #expect(status == 0, "\(err)")
        let seen = try await Self.eventually(200, "alice", password: "a2", port: port1)
        #expect(seen != nil, "h1 never took the new password")
        print("shared directory: new password seen by h1 after \(seen.map { "\($0)" } ?? "never")")
        #expect(try await Self.eventually(200, "alice", password: "a2", port: port2) != nil)
        #expect(try await Self.register("alice", password: "a1", port: port2) != 200)

        // A user imported while they run, then disabled and removed.
        let file = try RunningHomeServer.temporaryDirectory() + "/users.csv"
        try "bob@example.com,b1\ncarol@example.com,c1,h2.example\n".write(toFile: file, atomically: true, encoding: .utf8)
        (status, _, err) = try await Self.sipctl(url, ["user", "import", file])
        #expect(status == 0, "\(err)")
        #expect(try await Self.eventually(200, "bob", password: "b1", port: port2) != nil)
        (status, out, _) = try await Self.sipctl(url, ["user", "list"])
        #expect(out == "alice@example.com\tenabled\t-\t\nbob@example.com\tenabled\t-\t\ncarol@example.com\tenabled\th2.example\t\n")
        (status, _, err) = try await Self.sipctl(url, ["user", "disable", "bob@example.com"])
        #expect(status == 0, "\(err)")
        #expect(try await Self.eventually(403, "bob", password: "b1", port: port1) != nil)
        (status, _, err) = try await Self.sipctl(url, ["user", "remove", "bob@example.com"])
        #expect(status == 0, "\(err)")
        #expect(try await Self.eventually(401, "bob", password: "b1", port: port1) != nil)  // as a wrong password
        (status, _, _) = try await Self.sipctl(url, ["user", "remove", "bob@example.com"])
        #expect(status == 1)

        // Access lists and directory fields live there too.
        (status, _, err) = try await Self.sipctl(url, ["acl", "block", "alice@example.com", "carol@example.com"])
        #expect(status == 0, "\(err)")
        (status, _, err) = try await Self.sipctl(url, ["acl", "default", "example.com", "pending"])
        #expect(status == 0, "\(err)")
        (status, out, _) = try await Self.sipctl(url, ["acl", "list", "alice@example.com"])
        #expect(out == "block carol@example.com\ndefault pending (example.com, configured)\n")
        (status, _, err) = try await Self.sipctl(url, ["user", "set", "carol@example.com", "--display-name", "Carol Jones",
                                                 "--title", "CTO"])
        #expect(status == 0, "\(err)")
        (status, out, err) = try await Self.sipctl(url, ["directory", "search", "jones", "--json"])
        #expect(status == 0, "\(err)")
        #expect(out.contains("carol@example.com") && out.contains("CTO"), "\(out)")
    }

    @Test func unreachableDatabaseIsOneClearLine() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: HomeServerCommandTests.executable.path), "build home-server first")
        let url = "postgresql://sip@127.0.0.1:1/sip"  // nothing listens on port 1
        let (status, out, err) = try await Self.sipctl(url, ["user", "list"])
        #expect(status == 1)
        #expect(out.isEmpty)
        #expect(err.hasPrefix("sipctl: directory postgresql://sip@127.0.0.1:1/sip unreachable: "), "\(err)")
        #expect(err.split(separator: "\n").count == 1)
        let (bad, _, reason) = try await Self.sipctl("mysql://db/sip", ["user", "list"])
        #expect(bad == 2)
        #expect(reason.contains("bad directory 'mysql://db/sip'"))

        let run = try HomeServerCommandTests.launch([
            "--data", try RunningHomeServer.temporaryDirectory(), "--listen", "udp:127.0.0.1:0",
            "--domain", "example.com", "--log-level", "critical", "--directory", url])
        #expect(await HomeServerCommandTests.wait(run.process, timeout: .seconds(20)))
        #expect(run.process.terminationStatus == 1)
        let text = String(decoding: run.stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(text.contains("cannot open the directory: directory postgresql://sip@127.0.0.1:1/sip unreachable"), "\(text)")
        #expect(text.split(separator: "\n").count == 1, "\(text)")
    }
}
