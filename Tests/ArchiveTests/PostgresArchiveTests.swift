import Archive
import ArchivePostgres
import Foundation
import Logging
import SIPTestSupport
import Testing

/// The PostgreSQL archive against a real, throwaway PostgreSQL (`initdb`/`pg_ctl` in a temp
/// folder on a loopback port; Debian's `postgresql`, which scripts/test installs).
@Suite(.serialized) struct PostgresArchiveTests {
    /// Runs `body` with a started cluster and an archive on it whose client runs meanwhile.
    func withArchive(_ body: (ThrowawayCluster, PostgresArchive) async throws -> Void) async throws {
        try #require(ThrowawayCluster.binaries != nil, "install postgresql (scripts/test does)")
        // initdb and pg_ctl take seconds: off the cooperative pool, as every wait for them.
        let port = try TestPorts.loopback()
        let cluster = try await offThePool { try ThrowawayCluster(port: port) }
        try await withBlockingCleanup({ cluster.destroy() }) {
            var logger = Logger(label: "test.postgres")
            logger.logLevel = ProcessInfo.processInfo.environment["PG_TRACE"] == nil ? .warning : .trace
            let archive = try PostgresArchive(url: cluster.url, logger: logger)
            let client = Task { await archive.run() }
            defer { client.cancel() }
            try await body(cluster, archive)
        }
    }

    @Test func appliesIdempotentlyAndSearches() async throws {
        try await withArchive { _, archive in
            try await archive.apply((1...20).map { .message(record($0)) })
            try await archive.apply([.status(server: "h1.example", messageID: "m-4", status: 486)])
            try await archive.apply((1...15).map { .message(record($0)) })  // shipped again after a crash
            try await archive.apply([.message(record(1, server: "h2.example"))])  // same id, other server
            let all = try await archive.search(ArchiveQuery())
            #expect(all.count == 21)
            #expect(all.filter { $0.server == "h1.example" }.map(\.messageID) == (1...20).map { "m-\($0)" })
            #expect(all.first { $0.messageID == "m-4" && $0.server == "h1.example" }?.status == 486)
            try await archive.apply([
                .message(record(30, from: "sip:carol@example.com;transport=tcp", body: Array("Lunch at NOON".utf8))),
                .message(record(31, body: [0xff, 0xfe, 0x00, 0x41])),  // not UTF-8: must not break a text search
            ])
            #expect(try await archive.search(ArchiveQuery(from: "carol@example.com")).map(\.messageID) == ["m-30"])
            #expect(try await archive.search(ArchiveQuery(words: ["noon", "lunch"])).map(\.messageID) == ["m-30"])
            #expect(try await archive.search(ArchiveQuery(words: ["A"])).map(\.messageID).contains("m-31"))
            let binary = try #require(try await archive.search(ArchiveQuery(since: record(31).time)).first)
            #expect(binary.body == [0xff, 0xfe, 0x00, 0x41])
            let t = record(5).time
            #expect(try await archive.search(ArchiveQuery(since: t, until: t + 2)).filter { $0.server == "h1.example" }
                .map(\.messageID) == ["m-5", "m-6"])
            #expect(try await archive.search(ArchiveQuery(limit: 3)).count == 3)
            try await archive.ping()
        }
    }

    /// The database down during shipping: the spool keeps everything; back up: it drains.
    @Test func outageLosesNothing() async throws {
        try await withArchive { cluster, archive in
            let spool = try ArchiveSpool(directory: try temporaryDirectory())
            let shipper = ArchiveShipper(spool: spool, database: archive, pollInterval: .milliseconds(10),
                                         retryDelay: .milliseconds(100))
            let running = Task { await shipper.run() }
            defer { running.cancel() }
            try await spool.append((1...50).map { .message(record($0)) })
            try await waitUntil { (try? await spool.depth().count) == 0 }
            try await offThePool { try cluster.stop() }
            await #expect(throws: ArchiveError.self) { try await archive.ping() }
            try await spool.append((51...120).map { .message(record($0)) })
            try await Task.sleep(for: .milliseconds(500))
            #expect(!shipper.isHealthy)
            #expect(try await spool.depth().count == 70)
            try await offThePool { try cluster.start() }
            try await waitUntil { (try? await spool.depth().count) == 0 }
            #expect(shipper.isHealthy)
            let all = try await archive.search(ArchiveQuery())
            #expect(all.map(\.messageID) == (1...120).map { "m-\($0)" })
        }
    }

    func waitUntil(timeout: Duration = .seconds(30), _ condition: () async -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !(await condition()) {
            guard ContinuousClock.now < deadline else {
                Issue.record("timed out")
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
