@testable import Archive
import Foundation
import Synchronization
import Testing

func temporaryDirectory() throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("archive-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func record(_ n: Int, server: String = "h1.example", from: String = "sip:alice@example.com",
            to: String = "sip:bob@example.com", time: Int64 = 1_795_996_800_000, body: [UInt8]? = nil) -> ArchiveRecord {
    ArchiveRecord(messageID: "m-\(n)", server: server, from: from, to: to, time: time + Int64(n), callID: "call-\(n)",
                  cseq: Int64(n), contentType: "text/plain", body: body ?? Array("hello \(n)".utf8))
}

/// The spool: ordered, durable across reopen, trimmed as a prefix, depth from the index ends.
@Suite struct ArchiveSpoolTests {
    @Test func appendReadTrimKeepOrderAndSurviveReopen() async throws {
        let dir = try temporaryDirectory()
        let spool = try ArchiveSpool(directory: dir)
        try await spool.append((1...5).map { .message(record($0)) })
        try await spool.append([.status(server: "h1.example", messageID: "m-2", status: 200)])
        #expect(try await spool.depth().count == 6)
        try spool.close()

        let reopened = try ArchiveSpool(directory: dir)
        let events = try await reopened.read(limit: 100)
        #expect(events.count == 6)
        #expect(events.map(\.seq) == events.map(\.seq).sorted())
        #expect(events.first?.event == .message(record(1)))
        #expect(events.last?.event == .status(server: "h1.example", messageID: "m-2", status: 200))
        try await reopened.trim(through: events[2].seq)
        let rest = try await reopened.read(limit: 100)
        #expect(rest.count == 3)
        #expect(rest.first?.event == .message(record(4)))
        let depth = try await reopened.depth()
        #expect(depth.count == 3)
        #expect(depth.oldest == record(4).time)
    }

    @Test func bodiesAreBinarySafe() async throws {
        let dir = try temporaryDirectory()
        let spool = try ArchiveSpool(directory: dir)
        let bytes: [UInt8] = [0, 1, 2, 0xff, 0xfe, 0x0d, 0x0a, 0, 0x80]
        try await spool.append([.message(record(1, body: bytes))])
        guard case .message(let back) = try await spool.read(limit: 1).first?.event else {
            Issue.record("no message")
            return
        }
        #expect(back.body == bytes)
    }
}

/// The writer never checkpoints (its commits are on the forwarding path): the WAL holds the
/// appends until the shipper's checkpoint copies them into the file.
@Suite struct ArchiveSpoolCheckpointTests {
    @Test func onlyTheCheckpointMovesTheWALIntoTheFile() async throws {
        let dir = try temporaryDirectory()
        let spool = try ArchiveSpool(directory: dir)
        let file = (dir as NSString).appendingPathComponent(ArchiveSpool.fileName)
        func size(_ path: String) -> Int { ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0 }
        let before = size(file)
        for n in 0..<40 {  // far past SQLite's automatic checkpoint (1,000 pages) were it on
            try await spool.append((1...50).map { .message(record(n * 50 + $0, body: [UInt8](repeating: 0x61, count: 2_000))) })
        }
        #expect(size(file) == before)
        #expect(size(file + "-wal") > 1_000 * 4_096)
        #expect(try await spool.checkpointIfDue(every: .zero))
        #expect(size(file) > 2_000 * 2_000)
        #expect(try await !spool.checkpointIfDue(every: .seconds(60)))
        #expect(try await spool.depth().count == 2_000)
    }
}

/// The agent: completions only after the group commit; bounded; a failing spool says so.
@Suite struct ArchiveAgentTests {
    @Test func completionComesAfterTheRecordIsInTheSpool() async throws {
        let dir = try temporaryDirectory()
        let spool = try ArchiveSpool(directory: dir)
        let agent = ArchiveAgent(serverName: "h1.example", spool: spool)
        let writer = Task { await agent.run() }
        let n = 500
        let results = Mutex<[Bool]>([])
        for i in 1...n {
            let r = record(i)
            #expect(agent.archive(r) { ok in
                // Durable before the caller hears of it: the row is already readable.
                results.withLock { $0.append(ok) }
            })
        }
        agent.recordStatus(messageID: "m-1", status: 200)
        let deadline = ContinuousClock.now + .seconds(20)
        while results.withLock({ $0.count }) < n, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(results.withLock { $0.count } == n)
        #expect(results.withLock { $0.allSatisfy { $0 } })
        writer.cancel()
        await writer.value
        #expect(try await spool.depth().count == n + 1)  // the status too, written at shutdown at the latest
        #expect(agent.counts.committed == UInt64(n + 1))
    }

    /// Archiving locally, the agent writes straight into the embedded archive: each record
    /// is searchable there before its completion runs, statuses land on their messages, and
    /// no spool file is made.
    @Test func writesStraightIntoTheLocalArchive() async throws {
        let dir = try temporaryDirectory()
        let archive = try SQLiteArchive(directory: dir)
        let agent = ArchiveAgent(serverName: "h1.example", sink: archive)
        let writer = Task { await agent.run() }
        let n = 300
        let missing = Mutex(0)
        let done = Mutex(0)
        for i in 1...n {
            #expect(agent.archive(record(i)) { ok in
                // Blocking read on the writer thread: the commit is already visible.
                let found = (try? archive.storedCount(messageID: "m-\(i)")) ?? 0
                if !ok || found != 1 { missing.withLock { $0 += 1 } }
                done.withLock { $0 += 1 }
            })
        }
        agent.recordStatus(messageID: "m-7", status: 486)
        let deadline = ContinuousClock.now + .seconds(20)
        while done.withLock({ $0 }) < n, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        writer.cancel()
        await writer.value
        #expect(done.withLock { $0 } == n)
        #expect(missing.withLock { $0 } == 0)
        let all = try await archive.search(ArchiveQuery())
        #expect(all.count == n)
        #expect(all.first { $0.messageID == "m-7" }?.status == 486)
        #expect(!FileManager.default.fileExists(atPath: (dir as NSString).appendingPathComponent(ArchiveSpool.fileName)))
        #expect(agent.counts.committed == UInt64(n + 1))
    }

    @Test func fullQueueRefuses() async throws {
        let spool = try ArchiveSpool(directory: try temporaryDirectory())
        let agent = ArchiveAgent(serverName: "h1.example", spool: spool, maxPending: 3)  // no writer running
        #expect(agent.archive(record(1)) { _ in })
        #expect(agent.archive(record(2)) { _ in })
        #expect(agent.archive(record(3)) { _ in })
        #expect(!agent.archive(record(4)) { _ in })
        #expect(agent.counts.refused == 1)
    }

    /// A spool that cannot grow (as a full disk): completions say false, the agent reports
    /// itself not writable.
    @Test func unwritableSpoolFailsTheCompletion() async throws {
        var configuration = ArchiveSpool.Configuration()
        configuration.maxPageCount = 8
        let spool = try ArchiveSpool(directory: try temporaryDirectory(), configuration: configuration)
        let agent = ArchiveAgent(serverName: "h1.example", spool: spool)
        let writer = Task { await agent.run() }
        let big = [UInt8](repeating: 0x41, count: 200_000)
        let outcome = Mutex<Bool?>(nil)
        #expect(agent.archive(record(1, body: big)) { ok in outcome.withLock { $0 = ok } })
        let deadline = ContinuousClock.now + .seconds(20)
        while outcome.withLock({ $0 }) == nil, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(outcome.withLock { $0 } == false)
        #expect(!agent.isWritable)
        writer.cancel()
        await writer.value
    }

    @Test func messageIDsAreUniqueAcrossAgents() throws {
        let spool = try ArchiveSpool(directory: try temporaryDirectory())
        let a = ArchiveAgent(serverName: "h", spool: spool), b = ArchiveAgent(serverName: "h", spool: spool)
        let ids = (0..<100).map { _ in a.nextMessageID() } + (0..<100).map { _ in b.nextMessageID() }
        #expect(Set(ids).count == 200)
    }
}
