import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A real Kamailio (Debian's `kamailio`, `kamailio-presence-modules`, `kamailio-sqlite-modules`)
/// running the bench's presence configuration (a copy in `Tests/Kamailio/presence.cfg`:
/// registrar, presence with PIDF, no authentication) on a free loopback port, UDP and TCP,
/// with a throwaway SQLite database: a SIP peer nobody here wrote. Every field is set once, in
/// `init` (hence `@unchecked Sendable`: `Process` is not marked, its handle is not shared).
public final class Kamailio: @unchecked Sendable {
    public static let path = "/usr/sbin/kamailio"
    static let modules = "/usr/lib/x86_64-linux-gnu/kamailio/modules"
    static let schemas = "/usr/share/kamailio/db_sqlite"
    public let port: Int
    public let folder: String
    private let process: Process
    /// Kamailio's main process, leader of its process group.
    private let leader: pid_t

    /// The configuration, found from this source file's place in the checkout.
    public static var configuration: String {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<2 { url.deleteLastPathComponent() }  // Tests/SIPTestSupport/Kamailio.swift → Tests
        return url.appendingPathComponent("Kamailio/presence.cfg").path
    }

    /// What is missing for a Kamailio test, or nil when everything is installed.
    public static var missing: String? {
        let needed = [path, "\(modules)/presence.so", "\(modules)/db_sqlite.so", "/usr/bin/sqlite3",
                      "\(schemas)/presence-create.sql", configuration]
        let absent = needed.filter { !FileManager.default.fileExists(atPath: $0) }
        return absent.isEmpty ? nil : "missing: \(absent.joined(separator: ", ")) (scripts/test installs kamailio, kamailio-presence-modules, kamailio-sqlite-modules and sqlite3)"
    }

    /// Starts Kamailio off the cooperative pool (`init` polls with sleeps, up to ten seconds).
    public static func start() async throws -> Kamailio {
        try await offThePool { try Kamailio() }
    }

    /// Starts Kamailio and returns once its TCP port accepts connections. From async code, use
    /// ``start()``.
    public init() throws {
        if let missing = Self.missing { throw KamailioFailed(log: missing) }
        var lastLog = ""
        for _ in 0..<6 {
            let port = try TestPorts.loopback()
            let folder = NSTemporaryDirectory() + "kamailio-\(port)-\(UInt32.random(in: 0 ... .max))"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let database = folder + "/kam.sqlite"
            for schema in ["standard-create.sql", "presence-create.sql"] {
                try Self.shell("/usr/bin/sqlite3 '\(database)' < '\(Self.schemas)/\(schema)'")
            }
            let config = try String(contentsOfFile: Self.configuration, encoding: .utf8)
                .replacingOccurrences(of: "KAMDB", with: database)
                .replacingOccurrences(of: "5070", with: String(port))
            try config.write(toFile: folder + "/kam.cfg", atomically: true, encoding: .utf8)
            let logPath = folder + "/kamailio.log"
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
            // setsid: Kamailio leads its own session and process group (its pid file names
            // the leader), so `stop()` kills its children too; `--wait` keeps setsid as our
            // child until Kamailio is gone.
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setsid")
            process.arguments = ["--wait", Self.path, "-DD", "-E", "-f", folder + "/kam.cfg", "-P", folder + "/k.pid",
                                 "-m", "64", "-M", "8"]
            process.standardOutput = log
            process.standardError = log
            process.standardInput = FileHandle.nullDevice
            try process.run()
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline, process.isRunning {
                if Self.accepts(port: port), let leader = Self.readPID(folder + "/k.pid") {
                    self.leader = leader
                    self.port = port
                    self.folder = folder
                    self.process = process
                    return
                }
                Thread.sleep(forTimeInterval: 0.05)
            }
            if let leader = Self.readPID(folder + "/k.pid") { kill(-leader, SIGKILL) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            lastLog = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            try? FileManager.default.removeItem(atPath: folder)
        }
        throw KamailioFailed(log: lastLog)
    }

    public var log: String { (try? String(contentsOfFile: folder + "/kamailio.log", encoding: .utf8)) ?? "" }

    /// SIGKILL to the whole process group (the test process blocks SIGTERM, and children
    /// inherit that mask).
    public func stop() {
        kill(-leader, SIGKILL)
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: folder)
    }

    deinit { stop() }

    static func readPID(_ path: String) -> pid_t? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    static func shell(_ command: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw KamailioFailed(log: "`\(command)` failed") }
    }

    static func accepts(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}

public struct KamailioFailed: Error, CustomStringConvertible {
    public var log: String
    public var description: String { "Kamailio did not start: \(log)" }
}
