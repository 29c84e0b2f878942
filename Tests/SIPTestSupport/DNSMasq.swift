import Foundation
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// A real dnsmasq (dnsmasq-base) serving a test zone on a free loopback port. Every field is
/// set once, in `init` (hence `@unchecked Sendable`: `Process` is not marked).
public final class DNSMasq: @unchecked Sendable {
    public static let path = "/usr/sbin/dnsmasq"
    public let port: Int
    private let process: Process
    private let logPath: String
    /// dnsmasq's own pid (the shell's child).
    private let pid: pid_t

    /// Starts dnsmasq off the cooperative pool (`init` polls with sleeps, up to five seconds).
    public static func start(domains: [String], records: [String]) async throws -> DNSMasq {
        try await offThePool { try DNSMasq(domains: domains, records: records) }
    }

    static func readPID(_ path: String) -> pid_t? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    public var address: SocketAddress { try! SocketAddress(ipAddress: "127.0.0.1", port: port) }

    /// Starts dnsmasq with `records` (`--srv-host=...`, `--naptr-record=...`, ...), authoritative
    /// (`--local`) for `domains`, records cached for 300 s. Tries a few ports if one is taken.
    /// From async code, use ``start(domains:records:)``.
    public init(domains: [String], records: [String]) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.path) else {
            throw DNSMasqMissing()
        }
        var lastLog = ""
        for _ in 0..<8 {
            let port = try TestPorts.loopback()
            let logPath = NSTemporaryDirectory() + "dnsmasq-\(port)-\(UInt32.random(in: 0 ... .max)).log"
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
            // dnsmasq closes every inherited descriptor at start, Foundation's child monitor
            // among them; Foundation then takes it for dead and blocks in waitpid() on it, and
            // no other child of the test process is ever reaped. So a shell is the child
            // (it keeps the descriptor) and dnsmasq its child; `stop()` kills dnsmasq by pid.
            let pidPath = logPath + ".pid"
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "\"$0\" \"$@\" & echo $! > '\(pidPath)'; wait", Self.path,
                "--no-daemon", "--port=\(port)", "--listen-address=127.0.0.1", "--bind-interfaces",
                "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--pid-file=",
                "--local-ttl=300", "--log-facility=-",
            ] + domains.map { "--local=/\($0)/" } + records
            process.standardOutput = log
            process.standardError = log
            process.standardInput = FileHandle.nullDevice
            try process.run()
            // dnsmasq binds before it logs "started"; an early exit means the port was taken.
            let deadline = Date().addingTimeInterval(5)
            while Date() < deadline, process.isRunning {
                let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
                if text.contains("started"), let pid = Self.readPID(pidPath) {
                    self.port = port
                    self.process = process
                    self.logPath = logPath
                    self.pid = pid
                    return
                }
                Thread.sleep(forTimeInterval: 0.02)
            }
            if let pid = Self.readPID(pidPath) { kill(pid, SIGKILL) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            lastLog = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        }
        throw DNSMasqFailed(log: lastLog)
    }

    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// SIGKILL: the child inherits the test process's signal mask, where SIGTERM is blocked.
    public func stop() {
        kill(pid, SIGKILL)
        // The shell too: its `wait` never returns, SIGCHLD being blocked in the mask it
        // inherited. Once it is gone Foundation reaps it; dnsmasq goes to init.
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: logPath)
    }

    deinit { stop() }
}

public struct DNSMasqMissing: Error, CustomStringConvertible {
    public init() {}
    public var description: String {
        "\(DNSMasq.path) is missing: install dnsmasq-base (scripts/test does) to run the RFC 3263 tests"
    }
}

struct DNSMasqFailed: Error, CustomStringConvertible {
    public var log: String
    var description: String { "dnsmasq did not start: \(log)" }
}

