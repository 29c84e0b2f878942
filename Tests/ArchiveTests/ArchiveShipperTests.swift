import Archive
import Foundation
import Synchronization
import Testing

/// An archive database that fails while `down` is set (a database outage).
final class FlakyArchive: ArchiveDatabase {
    let inner: SQLiteArchive
    let down = Mutex(false)
    init(_ inner: SQLiteArchive) { self.inner = inner }

    func apply(_ events: [ArchiveEvent]) async throws(ArchiveError) {
        if down.withLock({ $0 }) { throw ArchiveError(.writeFailed, "database down") }
        try await inner.apply(events)
    }

    func search(_ query: ArchiveQuery) async throws(ArchiveError) -> [ArchiveRecord] { try await inner.search(query) }

    func ping() async throws(ArchiveError) {
        if down.withLock({ $0 }) { throw ArchiveError(.readFailed, "database down") }
    }

    var location: String { "flaky" }
}

/// Shipping: at least once, idempotent, in order, trimmed only after the commit.
@Suite struct ArchiveShipperTests {
    @Test func shipsInOrderAndAppliesStatuses() async throws {
        let dir = try temporaryDirectory()
        let spool = try ArchiveSpool(directory: dir)
        let archive = try SQLiteArchive(directory: dir)
        try await spool.append((1...10).map { .message(record($0)) })
        try await spool.append([.status(server: "h1.example", messageID: "m-3", status: 486)])
        let shipper = ArchiveShipper(spool: spool, database: archive, batchSize: 4)
        #expect(try await shipper.shipAll() == 11)
        #expect(try await spool.depth().count == 0)
        let all = try await archive.search(ArchiveQuery())
        #expect(all.map(\.messageID) == (1...10).map { "m-\($0)" })
        #expect(all[2].status == 486)
        #expect(all[0].status == nil)
    }

    /// A crash after the archive's commit and before the trim ships the batch again: stored once.
    @Test func reshippingIsIdempotent() async throws {
        let dir = try temporaryDirectory()
        let spool = try ArchiveSpool(directory: dir)
        let archive = try SQLiteArchive(directory: dir)
        try await spool.append((1...20).map { .message(record($0)) })
        // The "crash": applied, not trimmed.
        try await archive.apply(try await spool.read(limit: 15).map(\.event))
        #expect(try await archive.count() == 15)
        try await ArchiveShipper(spool: spool, database: archive).shipAll()
        #expect(try await archive.count() == 20)
        #expect(Set(try await archive.search(ArchiveQuery()).map(\.messageID)).count == 20)
        // The same message id from another server is another message.
        try await archive.apply([.message(record(1, server: "h2.example"))])
        #expect(try await archive.count() == 21)
    }

    /// A status in the same batch as its message is folded into the insert; shipped again
    /// after a "crash" (the message already stored without its status), the status still
    /// lands and nothing is duplicated. A status for a message of an earlier batch updates it.
    @Test func statusesFoldIntoTheirMessagesAndSurviveReshipping() async throws {
        let dir = try temporaryDirectory()
        let archive = try SQLiteArchive(directory: dir)
        let folded = ArchiveEvent.foldingStatuses([
            .message(record(1)), .status(server: "h1.example", messageID: "m-1", status: 200),
            .status(server: "h1.example", messageID: "m-0", status: 404), .message(record(2)),
            .status(server: "h2.example", messageID: "m-2", status: 500),
        ])
        #expect(folded.count == 4)
        #expect(folded.first == .message({ var r = record(1); r.status = 200; return r }()))
        try await archive.apply([.message(record(3))])  // shipped once, status not yet known
        try await archive.apply([.message(record(3)), .status(server: "h1.example", messageID: "m-3", status: 486),
                                 .message(record(4)), .status(server: "h1.example", messageID: "m-4", status: 200)])
        try await archive.apply([.status(server: "h1.example", messageID: "m-4", status: 202)])
        let all = try await archive.search(ArchiveQuery())
        #expect(all.map(\.messageID) == ["m-3", "m-4"])
        #expect(all.map(\.status) == [486, 202])
    }

    /// The database down: nothing is trimmed, the spool grows; back up: it drains, no loss.
    @Test func outageLosesNothing() async throws {
        let dir = try temporaryDirectory()
        let spool = try ArchiveSpool(directory: dir)
        let archive = FlakyArchive(try SQLiteArchive(directory: dir))
        archive.down.withLock { $0 = true }
        let shipper = ArchiveShipper(spool: spool, database: archive, pollInterval: .milliseconds(10),
                                     retryDelay: .milliseconds(20))
        let running = Task { await shipper.run() }
        try await spool.append((1...30).map { .message(record($0)) })
        // Unhealthy once a shipping attempt has failed (on a loaded machine that can take a while).
        let failedBy = ContinuousClock.now + .seconds(10)
        while shipper.isHealthy, ContinuousClock.now < failedBy { try await Task.sleep(for: .milliseconds(20)) }
        #expect(!shipper.isHealthy)
        #expect(try await spool.depth().count == 30)
        archive.down.withLock { $0 = false }
        let deadline = ContinuousClock.now + .seconds(20)
        while try await spool.depth().count > 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(try await archive.inner.count() == 30)
        #expect(shipper.isHealthy)
        running.cancel()
        await running.value
    }
}

/// Searching and the output formats of `sipctl archive`.
@Suite struct ArchiveQueryTests {
    @Test func filters() async throws {
        let archive = try SQLiteArchive(directory: try temporaryDirectory())
        try await archive.apply([
            .message(record(1, from: "sip:alice@example.com", to: "sip:bob@example.com", body: Array("Lunch at noon?".utf8))),
            .message(record(2, from: "sip:bob@example.com;transport=tcp", to: "sip:alice@example.com", body: Array("yes, NOON".utf8))),
            .message(record(3, from: "sip:carol@example.com", to: "sip:bob@example.com", body: Array("hi".utf8))),
        ])
        func ids(_ q: ArchiveQuery) async throws -> [String] { try await archive.search(q).map(\.messageID) }
        #expect(try await ids(ArchiveQuery(to: "bob@example.com")) == ["m-1", "m-3"])
        #expect(try await ids(try .parse(from: "sip:Bob@example.com", to: nil, since: nil, until: nil, text: nil, limit: nil)) == ["m-2"])
        #expect(try await ids(ArchiveQuery(words: ["noon"])) == ["m-1", "m-2"])
        #expect(try await ids(ArchiveQuery(words: ["noon", "lunch"])) == ["m-1"])
        let t = record(2).time
        #expect(try await ids(ArchiveQuery(since: t)) == ["m-2", "m-3"])
        #expect(try await ids(ArchiveQuery(since: t, until: t + 1)) == ["m-2"])
        #expect(try await ids(ArchiveQuery(limit: 1)) == ["m-1"])
    }

    @Test(arguments: [("2026-11-30", 1_795_996_800_000), ("2026-11-30T00:00:00Z", 1_795_996_800_000),
                      ("2026-11-30T01:00:00.250+01:00", 1_795_996_800_250)])
    func isoTimes(text: String, ms: Int64) {
        #expect(ArchiveTime.parse(text) == ms)
    }

    @Test func badFiltersAreRefusedWithAReason() {
        #expect(throws: ArchiveError.self) { try ArchiveQuery.parse(from: nil, to: nil, since: "yesterday", until: nil, text: nil, limit: nil) }
        #expect(throws: ArchiveError.self) { try ArchiveQuery.parse(from: nil, to: nil, since: nil, until: nil, text: nil, limit: 0) }
        #expect(throws: ArchiveError.self) {
            try ArchiveQuery.parse(from: nil, to: nil, since: "2026-12-01", until: "2026-11-01", text: nil, limit: nil)
        }
        do throws(ArchiveError) {
            _ = try ArchiveQuery.parse(from: nil, to: nil, since: "31/12/2026", until: nil, text: nil, limit: nil)
        } catch {
            #expect(error.reason.contains("bad --since '31/12/2026'"))
            #expect(error.reason.contains("ISO 8601"))
        }
    }

    @Test func jsonHasTheContractKeysAndEscapes() throws {
        var r = record(1, body: Array("say \"hi\"\n\u{1}".utf8))
        r.status = 200
        let line = ArchiveFormat.json(r)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        for key in ["from", "to", "time", "content_type", "body", "call_id", "server"] { #expect(object[key] != nil) }
        #expect(object["body"] as? String == "say \"hi\"\n\u{1}")
        #expect(object["time"] as? String == "2026-11-30T00:00:00.001Z")
        #expect(object["status"] as? Int == 200)
        let binary = ArchiveFormat.json(record(2, body: [0xff, 0x00]))
        let b = try #require(try JSONSerialization.jsonObject(with: Data(binary.utf8)) as? [String: Any])
        #expect(b["body_encoding"] as? String == "base64")
        #expect(b["body"] as? String == "/wA=")
    }

    @Test func csvQuotes() {
        let line = ArchiveFormat.csv(record(1, body: Array("a, \"b\"".utf8)))
        #expect(line.hasSuffix(",utf-8,\"a, \"\"b\"\"\""))
        #expect(line.hasPrefix("2026-11-30T00:00:00.001Z,sip:alice@example.com,sip:bob@example.com,call-1,1,text/plain,,h1.example,m-1,"))
    }
}
