import Archive
import Logging

/// `--archive sqlite`: the archive agent with its durable spool (`archive-spool.sqlite`) and
/// the shipper into the embedded archive (`archive.sqlite`), both in the data directory, in
/// SQLite files of their own (never migrations of the main store).
public struct Archiving: Sendable {
    public let agent: ArchiveAgent
    public let shipper: ArchiveShipper
    public let spool: ArchiveSpool
    public let database: SQLiteArchive
    /// `--archive-required`.
    public let required: Bool
    let logger: Logger

    /// Opens the spool and the archive; throws `startupFailed` with a one-line reason.
    static func open(settings: ServerSettings, logger: Logger) throws -> Archiving? {
        guard settings.archive != nil else { return nil }
        do throws(ArchiveError) {
            let spool = try ArchiveSpool(directory: settings.dataDirectory)
            let database = try SQLiteArchive(directory: settings.dataDirectory)
            let agent = ArchiveAgent(serverName: settings.serverName, spool: spool, logger: logger)
            let shipper = ArchiveShipper(spool: spool, database: database, logger: logger)
            logger.info("archiving relayed MESSAGEs", metadata: [
                "archive.spool": "\(spool.path)", "archive.database": "\(database.path)",
                "archive.required": "\(settings.archiveRequired)"])
            return Archiving(agent: agent, shipper: shipper, spool: spool, database: database,
                             required: settings.archiveRequired, logger: logger)
        } catch {
            throw RolesError(.startupFailed, "cannot open the archive: \(error.reason)")
        }
    }

    /// The routing step a role puts near the front of its chain.
    public var step: ArchiveStep { ArchiveStep(agent: agent, required: required, logger: logger) }

    /// The writer and the shipper, until cancelled; the writer then writes what is queued.
    func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await agent.run() }
            group.addTask { await shipper.run() }
        }
    }

    func close() {
        try? spool.close()
        try? database.close()
    }
}
