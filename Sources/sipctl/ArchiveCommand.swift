import Archive
import ArchivePostgres
import ArgumentParser
import Foundation

/// `sipctl --data DIR archive ...` (CONTRACT.md): the archived MESSAGEs of the servers that
/// run with `--archive` on this data directory. Before reading, what the servers' spool
/// holds and has not yet shipped is shipped (idempotent, safe beside a running server), so
/// every MESSAGE a server forwarded is found.
struct ArchiveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "archive",
        abstract: "Search and export the archive of relayed instant messages.",
        discussion: """
            TIME is ISO 8601: a date (2026-11-30, midnight UTC) or a date-time with a zone \
            (2026-11-30T14:05:00Z, 2026-11-30T15:05:00.250+01:00); --since is inclusive, --until \
            exclusive. Times are printed in UTC with milliseconds. A bad filter exits 2.
            """,
        subcommands: [ArchiveSearch.self, ArchiveExport.self]
    )
}

/// Shared by `archive search` and `archive export`.
protocol ArchiveSubcommand: AsyncParsableCommand {
    var root: SipCtl { get }
}

extension ArchiveSubcommand {
    /// The archive (`--archive`: the SQLite one in `--data` by default, or a PostgreSQL URL),
    /// searched after shipping what the spool in `--data` still holds.
    func search(_ query: ArchiveQuery) async throws -> [ArchiveRecord] {
        let directory = root.data
        let fm = FileManager.default
        let spoolPath = (directory as NSString).appendingPathComponent(ArchiveSpool.fileName)
        let hasSpool = fm.fileExists(atPath: spoolPath)
        let database: any ArchiveDatabase
        do throws(ArchiveError) {
            if let url = root.archive, url != "sqlite" {
                guard url.hasPrefix("postgresql://") || url.hasPrefix("postgres://") else {
                    throw ArchiveError(.badFilter, "bad --archive '\(url)' (expected sqlite or postgresql://...)")
                }
                do throws(ArchiveError) {
                    database = try PostgresArchive(url: url)
                } catch {
                    throw ArchiveError(.badFilter, "--archive: \(error.reason)")
                }
            } else {
                let archivePath = (directory as NSString).appendingPathComponent(SQLiteArchive.fileName)
                guard hasSpool || fm.fileExists(atPath: archivePath) else {
                    throw ArchiveError(.openFailed, "no archive in \(directory) (servers archive with --archive)")
                }
                database = try SQLiteArchive(directory: directory)
            }
        } catch {
            if error.code == .badFilter { throw ValidationError(error.reason) }
            throw fail(error.reason)
        }
        let outcome: Result<[ArchiveRecord], ArchiveError> = await withTaskGroup { group in
            group.addTask { await database.run() }
            defer { group.cancelAll() }
            do throws(ArchiveError) {
                if hasSpool {
                    let spool = try ArchiveSpool(directory: directory)
                    try await ArchiveShipper(spool: spool, database: database).shipAll()
                    try? spool.close()
                }
                return .success(try await database.search(query))
            } catch {
                return .failure(error)
            }
        }
        switch outcome {
        case .success(let records): return records
        case .failure(let error): throw fail(error.reason)
        }
    }

    func fail(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("sipctl: \(message)\n".utf8))
        return ExitCode(1)
    }

    static func query(from: String?, to: String?, since: String?, until: String?, text: String?,
                      limit: Int?) throws -> ArchiveQuery {
        do throws(ArchiveError) {
            return try ArchiveQuery.parse(from: from, to: to, since: since, until: until, text: text, limit: limit)
        } catch {
            throw ValidationError(error.reason)
        }
    }
}

struct ArchiveSearch: ArchiveSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Archived messages matching every filter given, oldest first.",
        discussion: """
            --json prints one JSON object a line with from, to, time, content_type, body, call_id and \
            server (then cseq, status and message_id; a body that is not UTF-8 is base64, with \
            "body_encoding":"base64"). Without it: one line per message for people.
            """)

    @ParentCommand var root: SipCtl
    @Option(help: ArgumentHelp("Sender: a SIP URI or user@domain.", valueName: "URI")) var from: String?
    @Option(help: ArgumentHelp("Recipient: a SIP URI or user@domain.", valueName: "URI")) var to: String?
    @Option(help: ArgumentHelp("Received at or after TIME (ISO 8601).", valueName: "TIME")) var since: String?
    @Option(help: ArgumentHelp("Received before TIME (ISO 8601).", valueName: "TIME")) var until: String?
    @Option(help: ArgumentHelp("Every word occurs in the body (case-insensitive).", valueName: "WORDS")) var text: String?
    @Option(help: ArgumentHelp("At most N messages (default 100).", valueName: "N")) var limit: Int = 100
    @Flag(help: "One JSON object a line.") var json = false

    func run() async throws {
        let query = try Self.query(from: from, to: to, since: since, until: until, text: text, limit: limit)
        for record in try await search(query) {
            print(json ? ArchiveFormat.json(record) : ArchiveFormat.line(record))
        }
    }
}

struct ArchiveExport: ArchiveSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Every archived message received in [--since, --until), oldest first, as JSON lines or CSV.",
        discussion: """
            jsonl: the objects of `search --json`. csv: a header line, then \(ArchiveFormat.csvHeader) \
            (RFC 4180 quoting; body_encoding says whether body is utf-8 text or base64).
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case jsonl, csv }

    @ParentCommand var root: SipCtl
    @Option(help: ArgumentHelp("Received at or after TIME (ISO 8601).", valueName: "TIME")) var since: String
    @Option(help: ArgumentHelp("Received before TIME (ISO 8601).", valueName: "TIME")) var until: String
    @Option(help: ArgumentHelp("jsonl or csv (default jsonl).", valueName: "FORMAT")) var format: Format = .jsonl

    func run() async throws {
        let query = try Self.query(from: nil, to: nil, since: since, until: until, text: nil, limit: nil)
        let records = try await search(query)
        var out = ""
        if format == .csv { out += ArchiveFormat.csvHeader + "\n" }
        for record in records {
            out += (format == .csv ? ArchiveFormat.csv(record) : ArchiveFormat.json(record)) + "\n"
            if out.utf8.count > 1 << 16 {
                FileHandle.standardOutput.write(Data(out.utf8))
                out = ""
            }
        }
        FileHandle.standardOutput.write(Data(out.utf8))
    }
}
