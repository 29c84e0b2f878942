import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A throwaway PostgreSQL cluster for tests and demos: `initdb` into a temporary folder, then
/// `pg_ctl start` on a loopback port (trust authentication, user `sip`). Needs Debian's
/// `postgresql` package (the binaries in /usr/lib/postgresql/VERSION/bin). PostgreSQL refuses
/// to run as root: as root, the commands run as the `postgres` user (`runuser`).
public final class ThrowawayCluster: Sendable {
    public let directory: String
    public let port: Int
    let bin: String

    /// The folder of `initdb` and `pg_ctl`, newest version first; nil when not installed.
    public static var binaries: String? {
        let base = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
        return versions.compactMap(Int.init).sorted(by: >).map { "\(base)/\($0)/bin" }
            .first { FileManager.default.isExecutableFile(atPath: "\($0)/initdb") }
    }

    /// `postgresql://sip@127.0.0.1:PORT/postgres`.
    public var url: String { "postgresql://sip@127.0.0.1:\(port)/postgres" }

    /// Creates and starts a cluster on `port`, or on a random loopback port when nil.
    public init(port: Int? = nil) throws {
        guard let bin = Self.binaries else { throw ClusterError("PostgreSQL is not installed (apt-get install postgresql)") }
        self.bin = bin
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("pg-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        self.port = port ?? Int.random(in: 20_000..<60_000)
        if getuid() == 0 { try Self.run("/bin/chown", ["-R", "postgres:postgres", directory]) }
        try runAsOwner("\(bin)/initdb", ["-D", "\(directory)/data", "-U", "sip", "--auth=trust", "-E", "UTF8",
                                         "--no-sync"])
        try start()
    }

    /// Starts the server (after ``stop()``); waits until it accepts connections.
    public func start() throws {
        try runAsOwner("\(bin)/pg_ctl", ["-D", "\(directory)/data", "-l", "\(directory)/log", "-w", "-t", "60",
                                         "-o", "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -c fsync=off",
                                         "start"])
    }

    /// Stops the server at once (`-m fast`): clients see the database go down.
    public func stop() throws {
        try runAsOwner("\(bin)/pg_ctl", ["-D", "\(directory)/data", "-w", "-m", "fast", "stop"])
    }

    /// Stops the server (if running) and deletes the cluster.
    public func destroy() {
        try? stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    func runAsOwner(_ tool: String, _ arguments: [String]) throws {
        if getuid() == 0 {
            try Self.run("/usr/sbin/runuser", ["-u", "postgres", "--", tool] + arguments)
        } else {
            try Self.run(tool, arguments)
        }
    }

    /// Runs `tool` and waits for it with `posix_spawn` and `waitpid` (Foundation's `Process`
    /// never saw `pg_ctl start` end here: the server it leaves running inherits the process
    /// group); output goes to a file, read back for the error message.
    static func run(_ tool: String, _ arguments: [String]) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("pg-out-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        closeInheritedDescriptors(&actions)
        let argv: [UnsafeMutablePointer<CChar>?] = ([tool] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, tool, &actions, nil, argv, environ)
        guard spawned == 0 else { throw ClusterError("cannot run \(tool): error \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        // WIFEXITED && WEXITSTATUS == 0
        guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
            throw ClusterError("\(tool) \(arguments.joined(separator: " ")) failed: \(text)")
        }
    }

    /// Keeps this process's other descriptors out of the child: without it `pg_ctl` and the
    /// server it leaves running inherit every socket open here, a listening one included,
    /// and hold its port after this process closed it. glibc's `closefrom` action (2.34+, not in
    /// Swift's Glibc module, so looked up); failing that, each open descriptor is marked
    /// close-on-exec.
    static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
            let closeFrom = unsafeBitCast(symbol, to: CloseFrom.self)
            if closeFrom(&actions, 3) == 0 { return }
        }
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for fd in open.compactMap(Int32.init) where fd > 2 {
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        }
    }

    public struct ClusterError: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }
}
