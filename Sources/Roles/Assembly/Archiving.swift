import Archive
import ArchivePostgres
import Logging
import Synchronization

/// `--archive`: the archive agent with its durable spool (`archive-spool.sqlite` in the data
/// directory) and the shipper into the archive database: the embedded `archive.sqlite` beside
/// it (`sqlite`), or a shared PostgreSQL (`postgresql://...`). The spool and the SQLite
/// archive are SQLite files of their own (never migrations of the main store).
///
/// Why a spool even for the local archive: the MESSAGE waits for its group commit, so that
/// commit must be cheap. A spool row is an append at the end of one B-tree; an archive row
/// also goes into four indexes (time, from, to, message id), two of them at random places,
/// and its final status is an UPDATE. Measured with SQLite on this project's machine, the
/// archive's commit costs 2.5-5 times the spool's for the same batch; the shipper pays it off
/// the forwarding path, in large batches where the random index pages are shared.
/// (`SQLiteArchive` is an `ArchiveSink` too, for an embedding that prefers one write.)
public struct Archiving: Sendable {
    public let agent: ArchiveAgent
    public let shipper: ArchiveShipper
    public let spool: ArchiveSpool
    public let database: any ArchiveDatabase
    /// `--archive-required`.
    public let required: Bool
    let logger: Logger

    /// Opens the spool and the archive; throws `startupFailed` with a one-line reason.
    static func open(settings: ServerSettings, logger: Logger) throws -> Archiving? {
        guard let url = settings.archive else { return nil }
        do throws(ArchiveError) {
            let spool = try ArchiveSpool(directory: settings.dataDirectory)
            let database: any ArchiveDatabase = url == "sqlite"
                ? try SQLiteArchive(directory: settings.dataDirectory)
                : try PostgresArchive(url: url, logger: logger)
            let agent = ArchiveAgent(serverName: settings.serverName, spool: spool, logger: logger)
            let shipper = ArchiveShipper(spool: spool, database: database, logger: logger)
            logger.info("archiving relayed MESSAGEs", metadata: [
                "archive.spool": "\(spool.path)", "archive.database": "\(database.location)",
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
        let shipping = Task { await shipper.run() }
        await agent.run()
        shipping.cancel()
        client.cancel()
    }

    /// What `/health` reports of the archive; the database gets `timeout` to answer.
    func problems(timeout: Duration = .seconds(2)) async -> [String] {
        var problems: [String] = []
        if !agent.isWritable { problems.append("archive: the spool cannot be written") }
        if !shipper.isHealthy { problems.append("archive: the archive database refuses writes") }
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
        try? spool.close()
        try? (database as? SQLiteArchive)?.close()
    }
}
