import Archive
import ArchivePostgres
import Foundation
import SIPCore
import Synchronization
import SIPTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `--archive` survives SIGKILL (issue 11 "Done means"): MESSAGEs flood through a real
/// `home-server` process, which is killed mid-flood and restarted; every MESSAGE whose 200
/// reached the sender is in the archive exactly once (`sipctl archive search --json`).
@Suite(.serialized) struct ArchiveCrashTests {
    static func sibling(_ name: String) -> URL {
        HomeServerCommandTests.executable.deletingLastPathComponent().appendingPathComponent(name)
    }

    /// Starts `home-server` with the archive on; returns it and its UDP port.
    /// Starts `home-server` with the archive on (and `--metrics` for a PostgreSQL archive);
    /// returns it, its UDP port and its metrics port.
    static func startServer(data: String, archive: String?) async throws -> (Process, Int, Int?) {
        let metrics = archive == nil ? [] : ["--metrics", "127.0.0.1:0"]
        let run = try HomeServerCommandTests.launch([
            "--data", data, "--listen", "udp:127.0.0.1:0", "--domain", "example.com", "--auth", "off",
            "--server-name", "h1.example", "--log-level", "critical", "--archive"] + (archive.map { [$0] } ?? []) + metrics)
        let lines = await HomeServerCommandTests.lines(run.stdout, count: metrics.isEmpty ? 1 : 2)
        let line = try #require(lines.first, "home-server printed no listening line")
        let port = try #require(line.split(separator: ":").last.flatMap { Int($0) })
        let http = metrics.isEmpty ? nil : lines.last.flatMap { $0.split(separator: ":").last.flatMap { Int($0) } }
        return (run.process, port, http)
    }

    /// Runs `sipctl ARGS`; returns its exit status and stdout.
    /// Runs sipctl to its end off the cooperative pool.
    static func sipctl(_ arguments: [String]) async throws -> (Int32, String, String) {
        try await offThePool { try sipctlBlocking(arguments) }
    }

    static func sipctlBlocking(_ arguments: [String]) throws -> (Int32, String, String) {
        let process = Process()
        process.executableURL = sibling("sipctl")
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self), String(decoding: errors, as: UTF8.self))
    }

    @Test func everyAcknowledgedMessageIsArchivedExactlyOnceAcrossSIGKILL() async throws {
        try await flood(archive: nil, cluster: nil)
    }

    /// What a stopped server left in its spool (killed before shipping, or a database that was
    /// down) is shipped into the archive once a server starts on the data folder, and the
    /// spool is emptied.
    @Test func aLeftoverSpoolIsShippedAtStart() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: HomeServerCommandTests.executable.path), "build home-server first")
        let data = try RunningHomeServer.temporaryDirectory()
        try await RunningHomeServer.provision([("alice", "a", true)], domain: "example.com", in: data)
        let spool = try ArchiveSpool(directory: data)
        try await spool.append((1...3).map { n in
            .message(ArchiveRecord(messageID: "left-\(n)", server: "old.example", from: "sip:alice@example.com",
                                   to: "sip:bob@example.com", time: 1_795_996_800_000 + Int64(n), callID: "c\(n)", cseq: 1,
                                   contentType: "text/plain", body: Array("left \(n)".utf8)))
        })
        let (server, _, _) = try await Self.startServer(data: data, archive: nil)
        defer { server.terminate() }
        let archive = try SQLiteArchive(directory: data)
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            let left = try await spool.depth().count
            let archived = try await archive.count()
            if left == 0, archived == 3 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(try await spool.depth().count == 0)
        #expect(try await archive.search(ArchiveQuery()).map(\.messageID).sorted() == ["left-1", "left-2", "left-3"])
    }

    /// The same into PostgreSQL, with the database stopped from MESSAGE 300 to 450 (the spool
    /// grows, `/health` says 503) and the server SIGKILLed at 500: after the restart the spool
    /// drains, and every acknowledged MESSAGE is in the central archive exactly once.
    @Test func postgresOutageAndSIGKILLLoseNothing() async throws {
        try #require(ThrowawayCluster.binaries != nil, "install postgresql (scripts/test does)")
        let port = try TestPorts.loopback()
        let cluster = try await offThePool { try ThrowawayCluster(port: port) }  // initdb: seconds
        let started = ContinuousClock.now
        try await withBlockingCleanup({ cluster.destroy() }) { try await flood(archive: cluster.url, cluster: cluster) }
        print("archive crash test (postgresql): \(ContinuousClock.now - started)")
    }

    /// - Parameter archive: the `--archive` value (nil: bare, the SQLite archive).
    /// - Parameter cluster: stopped at MESSAGE 300 and started again at 450 when given.
    func flood(archive: String?, cluster: ThrowawayCluster?) async throws {
        try #require(FileManager.default.isExecutableFile(atPath: HomeServerCommandTests.executable.path), "build home-server first")
        try #require(FileManager.default.isExecutableFile(atPath: Self.sibling("sipctl").path), "build sipctl first")
        let data = try RunningHomeServer.temporaryDirectory()
        try await RunningHomeServer.provision([("alice", "a", true), ("bob", "b", true)], domain: "example.com", in: data)
        var (server, port, http) = try await Self.startServer(data: data, archive: archive)
        defer { if server.isRunning { kill(server.processIdentifier, SIGKILL) } }  // a failed expectation leaves no server behind

        // Bob registers and answers every MESSAGE with 200, to wherever it came from.
        let bob = try await TestUA(group: testEventLoops)
        try await bob.send(SIPText.register(user: "bob", domain: "example.com", uaPort: bob.port, cseq: 1,
                                            callID: "reg-bob"), to: port)
        #expect(await bob.response()?.statusCode == 200)
        let bobTask = Task {
            while !Task.isCancelled {
                guard let request = await bob.request(), let via = try? request.topVia else { continue }
                try? await bob.answer(request, 200, to: via.port ?? 5060)
            }
        }
        // Alice counts the 200s that reach her.
        let alice = try await TestUA(group: testEventLoops)
        let acknowledged = Mutex<Set<String>>([])
        let aliceTask = Task {
            while !Task.isCancelled {
                guard let response = await alice.response(), response.statusCode == 200,
                      let callID = response.callID else { continue }
                _ = acknowledged.withLock { $0.insert(callID) }
            }
        }

        let total = 1_200, killAt = 500
        var sent: [String] = []
        for i in 1...total {
            if let cluster, i == 300 { try await offThePool { try cluster.stop() } }
            if cluster != nil, i == 400, let http {  // the archive database down: degraded
                let (status, body) = try await MetricsEndpointTests.get("http://127.0.0.1:\(http)/health")
                #expect(status == 503)
                #expect(body.contains("archive"))
            }
            if let cluster, i == 450 { try await offThePool { try cluster.start() } }
            if i == killAt {
                kill(server.processIdentifier, SIGKILL)
                #expect(await HomeServerCommandTests.wait(server, timeout: .seconds(10)))
                #expect(server.terminationReason == .uncaughtSignal)
                (server, port, http) = try await Self.startServer(data: data, archive: archive)
            }
            let callID = "im-\(i)"
            sent.append(callID)
            let body = i % 7 == 0 ? "line one\nline \"two\", with ünïcode \(i)" : "hello \(i)"
            try await alice.send(SIPText.message(from: "alice", to: "bob", domain: "example.com", uaPort: alice.port,
                                                 cseq: 1, callID: callID, body: body), to: port)
            if i % 20 == 0 { try await Task.sleep(for: .milliseconds(15)) }
        }
        // Let the last answers arrive, then stop the server gracefully (the spool drains).
        var previous = -1
        while previous != acknowledged.withLock({ $0.count }) {
            previous = acknowledged.withLock { $0.count }
            try await Task.sleep(for: .seconds(1))
        }
        if let http {  // the database back, the spool drains: healthy again
            let drainStart = ContinuousClock.now
            while ContinuousClock.now - drainStart < .seconds(30),
                  try await MetricsEndpointTests.get("http://127.0.0.1:\(http)/health").0 != 200 {
                try await Task.sleep(for: .milliseconds(250))
            }
            print("archive crash test: healthy \(ContinuousClock.now - drainStart) after the flood")
            let (status, body) = try await MetricsEndpointTests.get("http://127.0.0.1:\(http)/health")
            #expect(status == 200, "\(body)")
            if status != 200, let cluster {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
                p.arguments = ["-h", "127.0.0.1", "-p", "\(cluster.port)", "-U", "sip", "-d", "postgres", "-c",
                               "select pid, state, wait_event_type, wait_event, left(query, 60) from pg_stat_activity; select locktype, objid, pid, granted from pg_locks where locktype = 'advisory' or not granted"]
                try p.run(); p.waitUntilExit()
                print((try? String(contentsOfFile: cluster.directory + "/log", encoding: .utf8))?.suffix(3000) ?? "")
            }
            let (_, text) = try await MetricsEndpointTests.get("http://127.0.0.1:\(http)/metrics")
            #expect(MetricsEndpointTests.sample(text, "sip_archive_spool_depth") == 0)
        }
        server.terminate()
        #expect(await HomeServerCommandTests.wait(server))
        #expect(server.terminationStatus == 0)
        bobTask.cancel()
        aliceTask.cancel()

        let where_ = archive.map { ["--archive", $0] } ?? []
        let (status, output, errors) = try await Self.sipctl(["--data", data] + where_ + ["archive", "search", "--json",
                                                        "--limit", "100000", "--from", "alice@example.com"])
        #expect(status == 0, "\(errors)")
        var counts: [String: Int] = [:]
        var objects: [[String: Any]] = []
        for line in output.split(separator: "\n") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            objects.append(object)
            counts[object["call_id"] as? String ?? "", default: 0] += 1
        }
        let acked = acknowledged.withLock { $0 }
        print("archive crash test (\(archive ?? "sqlite")): \(total) sent, \(acked.count) acknowledged, \(counts.count) archived")
        // A sanity bound only (what is sent while the server restarts is lost, and a loaded
        // machine loses more UDP); the property is "exactly once" below.
        #expect(acked.count > total / 3, "too few MESSAGEs went through (\(acked.count))")
        let missing = acked.filter { counts[$0] != 1 }
        #expect(missing.isEmpty, "acknowledged but not archived exactly once: \(missing.sorted().prefix(10))")
        #expect(counts.values.allSatisfy { $0 == 1 }, "an archived MESSAGE appears twice")
        #expect(Set(counts.keys).isSubset(of: Set(sent)))
        // Content and metadata as sent; a relayed and answered MESSAGE carries its final status.
        let n = (killAt / 7 + 1) * 7  // after the restart, with the multi-line body
        let seventh = try #require(objects.first { $0["call_id"] as? String == "im-\(n)" })
        #expect(seventh["body"] as? String == "line one\r\nline \"two\", with ünïcode \(n)")
        #expect(seventh["from"] as? String == "sip:alice@example.com")
        #expect(seventh["to"] as? String == "sip:bob@example.com")
        #expect(seventh["server"] as? String == "h1.example")
        #expect(seventh["content_type"] as? String == "text/plain")
        let answered = objects.filter { acked.contains($0["call_id"] as? String ?? "") }
        #expect(answered.filter { $0["status"] as? Int == 200 }.count >= answered.count - 50)

        // A bad filter: exit 2 and a reason.
        let (bad, _, reason) = try await Self.sipctl(["--data", data, "archive", "search", "--since", "last tuesday"])
        #expect(bad == 2)
        #expect(reason.contains("bad --since 'last tuesday'"))
        // Export as CSV: a header, then one line per message of the window.
        let (exported, csv, _) = try await Self.sipctl(["--data", data] + where_ + ["archive", "export", "--since", "2000-01-01",
                                                 "--until", "2100-01-01", "--format", "csv"])
        #expect(exported == 0)
        #expect(csv.hasPrefix("time,from,to,call_id,"))
        await alice.close()
        await bob.close()
    }
}
