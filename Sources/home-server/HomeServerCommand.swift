import ArgumentParser
import Logging
import Roles
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `home-server`: the shared server options of CONTRACT.md, the home-server policy.
struct HomeServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "home-server",
        abstract: "SIP home server: registrar, digest authentication, stateful proxy and IM relay (RFC 3261).",
        discussion: """
        Prints one line per listener once it accepts traffic (`listening udp 127.0.0.1:5060`), \
        exits 0 on SIGTERM or SIGINT after a graceful shutdown, and exits 1 with a one-line \
        reason when it cannot start.

        Config file (--config): `key = value` lines named after the long options (`domain = \
        example.com`, `listen = udp:0.0.0.0:5060`, `auth = off`); `#` starts a comment; a \
        repeatable option may appear on several lines. Command-line options override the file.

        Demo mode (--demo): provisions alice and bob in the first domain (default localhost) of \
        the store in --data with fresh random passwords (printed; every --demo run sets new \
        ones), and prints a sipsak command that registers alice with digest authentication.
        """)

    @Option(help: ArgumentHelp("Read settings from a file (command-line options override it).", valueName: "FILE"))
    var config: String?

    @Option(help: ArgumentHelp("Where the embedded SQLite store lives, created if missing (default: ./sip-data).",
                               valueName: "DIR"))
    var data: String?

    @Option(name: .customLong("domain"),
            help: ArgumentHelp("A SIP domain this server is responsible for; repeatable (default: localhost).",
                               valueName: "NAME"))
    var domains: [String] = []

    @Option(name: .customLong("listen"),
            help: ArgumentHelp("""
                udp:HOST:PORT, tcp:HOST:PORT or tls:HOST:PORT; repeatable (default: udp:0.0.0.0:5060, \
                tcp:0.0.0.0:5060, and tls:0.0.0.0:5061 when a certificate is set).
                """, valueName: "SPEC"))
    var listen: [String] = []

    @Option(help: ArgumentHelp("This server's name: Via/Record-Route host, and the name its certificate carries (default: the host name).",
                               valueName: "FQDN"))
    var serverName: String?

    @Option(help: ArgumentHelp("Certificate chain (PEM).", valueName: "PEM"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("Private key of the certificate (PEM).", valueName: "PEM"))
    var tlsKey: String?

    @Option(help: ArgumentHelp("CA bundle that peer servers' certificates must chain to (PEM).", valueName: "PEM"))
    var tlsCa: String?

    @Option(help: ArgumentHelp("Digest authentication of users: on, or off for closed labs and benchmarks (default: on).",
                               valueName: "on|off"))
    var auth: String?

    @Option(help: ArgumentHelp("""
                Digest algorithms offered in challenges, one WWW-/Proxy-Authenticate header each, most preferred \
                first (RFC 8760): MD5, SHA-256,MD5 or MD5,SHA-256 (default: MD5, as Kamailio offers; sipp and \
                sipsak know only MD5, and baresip 1.0 (libre) gives up on a challenge list with SHA-256 in it).
                """,
                               valueName: "LIST"))
    var digestAlgorithms: String?

    @Option(help: ArgumentHelp("trace, debug, info, notice, warning, error (default: info).", valueName: "LEVEL"))
    var logLevel: String?

    @Flag(help: "Provision the demo users alice and bob with fresh random passwords, print them and a sipsak command.")
    var demo = false

    /// The command-line options as config entries, in the order the file would hold them.
    var commandLineEntries: [(key: String, value: String)] {
        var entries: [(key: String, value: String)] = []
        if let data { entries.append(("data", data)) }
        entries += domains.map { ("domain", $0) }
        entries += listen.map { ("listen", $0) }
        if let serverName { entries.append(("server-name", serverName)) }
        if let tlsCert { entries.append(("tls-cert", tlsCert)) }
        if let tlsKey { entries.append(("tls-key", tlsKey)) }
        if let tlsCa { entries.append(("tls-ca", tlsCa)) }
        if let auth { entries.append(("auth", auth)) }
        if let digestAlgorithms { entries.append(("digest-algorithms", digestAlgorithms)) }
        if let logLevel { entries.append(("log-level", logLevel)) }
        return entries
    }

    func run() async throws { await serve() }

    /// Runs the server until graceful shutdown; exits the process when it cannot start.
    func serve() async {
        let settings: ServerSettings
        do {
            settings = try resolveSettings()
        } catch {
            fail("\(error)", code: 2)
        }
        let level = Logger.Level(rawValue: settings.logLevel.rawValue) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: "home-server")
        logger.logLevel = level

        let server: HomeServer
        var demoUsers: [(aor: String, password: String)] = []
        do {
            if demo { demoUsers = try await Demo.provision(settings: settings) }
            server = try await HomeServer.start(settings: settings, logger: logger)
        } catch {
            fail(Self.oneLine(error))
        }
        // Announced from inside the group, so that the signal handlers are in place once a
        // script sees the lines and may send SIGTERM.
        let provisioned = demoUsers
        let demo = self.demo
        let announcer = Announcer(listeners: server.listeners) {
            if demo { Demo.printInstructions(provisioned, settings: settings, listeners: server.listeners) }
        }
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: server, successTerminationBehavior: .gracefullyShutdownGroup,
                             failureTerminationBehavior: .gracefullyShutdownGroup),
                       .init(service: announcer, successTerminationBehavior: .ignore)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        do {
            try await group.run()
        } catch {
            fail(Self.oneLine(error))
        }
        logger.info("stopped")
    }

    func resolveSettings() throws -> ServerSettings {
        var settings = ServerSettings(serverName: Self.hostName())
        if let config {
            let text = try ConfigFile.read(config)
            try settings.apply(ServerSettings.parseConfigFile(text, name: config))
        }
        try settings.apply(commandLineEntries)
        return settings
    }

    /// One malloc arena: glibc's per-thread arenas keep the garbage of a burst of requests
    /// resident; with one, resident memory per binding is about halved (the benchmark's
    /// 10,000 bindings: ~1.5 KB -> ~0.7 KB each) for a little allocator contention.
    /// `mallopt` is not in the Glibc module, hence the lookup.
    static func useOneMallocArena() {
        #if canImport(Glibc)
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(nil, "mallopt") else { return }
        _ = unsafeBitCast(symbol, to: Mallopt.self)(-8, 1)  // M_ARENA_MAX = -8 (malloc.h)
        #endif
    }

    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }

    static func oneLine(_ error: any Error) -> String {
        "\(error)".split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    func fail(_ reason: String, code: Int32 = 1) -> Never {
        StandardError.write("home-server: \(reason)\n")
        fflush(nil)
        Glibc.exit(code)
    }
}

/// Prints `listening TRANSPORT HOST:PORT` per listener once the group runs, then waits.
struct Announcer: Service {
    let listeners: [ListenAddress]
    let then: @Sendable () -> Void

    func run() async throws {
        for listener in listeners { print("listening \(listener)") }
        fflush(nil)
        then()
        try? await gracefulShutdown()
    }
}

enum StandardError {
    static func write(_ text: String) {
        var text = text
        text.withUTF8 { _ = Glibc.write(2, $0.baseAddress, $0.count) }
    }
}

enum ConfigFile {
    /// Reads a whole text file (no Foundation).
    static func read(_ path: String) throws(RolesError) -> String {
        guard let file = fopen(path, "r") else {
            throw RolesError(.badConfiguration, "cannot read config file \(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
