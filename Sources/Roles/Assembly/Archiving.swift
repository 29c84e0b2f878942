import Archive
import ArchivePostgres
import Foundation
import Logging
import Synchronization

/// `--archive`: the archive agent and where it writes. With the embedded archive (`sqlite`,
/// `archive.sqlite` in the data directory) the agent's group commits go straight into it:
/// durable there before the MESSAGE is forwarded, written once, nothing to ship. With a
/// shared PostgreSQL (`postgresql://...`) they go into the durable local spool
/// (`archive-spool.sqlite`) and the shipper carries them to the database. A spool left in
/// the data directory (by a server that shipped to PostgreSQL, or an earlier version) is
/// still shipped, into the archive now in use. The spool and the SQLite archive are SQLite
/// files of their own (never migrations of the main store).
public struct Archiving: Sendable {
    public let agent: ArchiveAgent
    /// Carries the spool to the database; nil when there is no spool to ship.
    public let shipper: ArchiveShipper?
    /// The local spool; nil when the agent writes to the embedded archive and none was left.
    public let spool: ArchiveSpool?
    public let database: any ArchiveDatabase
    /// `--archive-required`.
    public let required: Bool
    let logger: Logger

    /// Opens the spool and the archive; throws `startupFailed` with a one-line reason.
    static func open(settings: ServerSettings, logger: Logger) throws -> Archiving? {
        guard let url = settings.archive else { return nil }
        do throws(ArchiveError) {
            let directory = settings.dataDirectory
            let spoolPath = (directory as NSString).appendingPathComponent(ArchiveSpool.fileName)
            let database: any ArchiveDatabase
            let spool: ArchiveSpool?
            let agent: ArchiveAgent
            if url == "sqlite" {
                let archive = try SQLiteArchive(directory: directory)
                database = archive
                spool = FileManager.default.fileExists(atPath: spoolPath) ? try ArchiveSpool(directory: directory) : nil
                agent = ArchiveAgent(serverName: settings.serverName, sink: archive, logger: logger)
            } else {
                database = try PostgresArchive(url: url, logger: logger)
                let local = try ArchiveSpool(directory: directory)
                spool = local
                agent = ArchiveAgent(serverName: settings.serverName, sink: local, logger: logger)
            }
            let shipper = spool.map { ArchiveShipper(spool: $0, database: database, logger: logger) }
            logger.info("archiving relayed MESSAGEs", metadata: [
                "archive.written_to": "\(agent.sink.location)", "archive.database": "\(database.location)",
                "archive.required": "\(settings.archiveRequired)"])
            return Archiving(agent: agent, shipper: shipper, spool: spool, database: database,
                             required: settings.archiveRequired, logger: logger)
        } catch {
            throw RolesError(.startupFailed, "cannot open the archive: \(error.reason)")
        }
    }

    /// The routing step a role puts near the front of its chain.
    public var step: ArchiveStep { ArchiveStep(agent: agent, required: required, logger: logger) }

    /// The writer, the shipper and the database's own work, until cancelled; the writer then
    /// writes what is queued.
    /// The shipper and the database client are not awaited at shutdown: a database that
    /// does not answer must not hold the process (what they had not shipped stays in the
    /// spool for the next start).
    func run() async {
        let client = Task { await database.run() }
        let shipper = self.shipper
        let shipping = Task { await shipper?.run() }
        await agent.run()
        shipping.cancel()
        client.cancel()
    }

    /// What `/health` reports of the archive; the database gets `timeout` to answer.
    func problems(timeout: Duration = .seconds(2)) async -> [String] {
        var problems: [String] = []
        if !agent.isWritable { problems.append("archive: \(agent.sink.location) cannot be written") }
        if let shipper, !shipper.isHealthy { problems.append("archive: the archive database refuses writes") }
        let database = self.database
        let answer: String? = await withCheckedContinuation { continuation in
            let once = Mutex(false)
            let finish: @Sendable (String?) -> Void = { value in
                if once.withLock({ done in defer { done = true }; return !done }) { continuation.resume(returning: value) }
            }
            Task { @Sendable in
                do throws(ArchiveError) {
                    try await database.ping()
                    finish(nil)
                } catch {
                    finish("archive: \(error.reason)")
                }
            }
            Task { @Sendable in
                try? await Task.sleep(for: timeout)
                finish("archive: \(database.location) did not answer within \(timeout)")
            }
        }
        if let answer { problems.append(answer) }
        return problems
    }

    func close() {
        try? spool?.close()
        try? (database as? SQLiteArchive)?.close()
    }
}
