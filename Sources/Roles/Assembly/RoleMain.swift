import ArgumentParser
import Logging
import ServiceLifecycle
import SIPTransaction

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The main of every server executable (CONTRACT.md): parse the shared and the role's
/// options, resolve the settings (flags > `SIP_*` environment > config file > defaults),
/// bootstrap logging, start the `RoleServer` with the role's policy, print one
/// `listening TRANSPORT HOST:PORT` line per listener, serve until SIGTERM/SIGINT, then exit 0
/// after a graceful shutdown. Cannot start: one line `NAME: reason` on stderr and exit 2 for
/// a bad option or setting, 1 for anything else (port taken, unreadable certificate, store).
public enum RoleMain {
    /// Parses `arguments` (the process's when nil) and runs the role; never returns.
    public static func run<Role: ServerRole>(_ role: Role.Type, arguments: [String]? = nil) async -> Never {
        let command: RoleCommand<Role>
        do {
            command = try RoleCommand<Role>.parse(
                ServerOptions.expandingBareArchive(arguments ?? Array(CommandLine.arguments.dropFirst())))
        } catch {
            let code = RoleCommand<Role>.exitCode(for: error)
            if code == .success { RoleCommand<Role>.exit(withError: error) }  // --help, --version
            fail(Role.commandName, oneLine(RoleCommand<Role>.message(for: error)), code: 2)
        }
        await serve(command, environment: processEnvironment())
        exit(0)
    }

    /// Runs a parsed command until graceful shutdown; exits the process when it cannot start.
    public static func serve<Role: ServerRole>(_ command: RoleCommand<Role>, environment: [String: String]) async {
        let name = Role.commandName
        let resolved: SettingsReader.Result
        do {
            resolved = try await SettingsReader(
                options: command.server, environment: environment, hostName: hostName(),
                roleValues: Role.commandLineValues(command.role), roleKeys: Role.settingKeys,
                roleRepeatable: Role.repeatableKeys).read()
        } catch {
            fail(name, error.reason, code: 2)
        }
        let settings = resolved.settings
        let level = Logger.Level(rawValue: settings.logLevel.rawValue) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: name)
        logger.logLevel = level

        let server: RoleServer
        var demoUsers: [(aor: String, password: String)] = []
        do {
            if command.server.demo { demoUsers = try await DemoUsers.provision(settings: settings) }
            let options = command.role
            let config = resolved.config
            server = try await RoleServer.start(settings: settings, logger: logger) { services in
                try Role.makePolicy(services, options: options, config: config)
            }
        } catch let error as RolesError where error.code == .badConfiguration {
            fail(name, error.reason, code: 2)  // a role's own option (`--mode`, `--route`) is unusable
        } catch {
            fail(name, oneLine(error))
        }
        // Announced from inside the group, so that the signal handlers are in place once a
        // script sees the lines and may send SIGTERM.
        let provisioned = demoUsers
        let demo = command.server.demo
        let metricsHost = settings.metrics?.host
        let announcer = Announcer(listeners: server.listeners, metrics: {
            guard let metricsHost, let port = await server.metricsPort() else { return nil }
            return "metrics http \(metricsHost.contains(":") ? "[\(metricsHost)]" : metricsHost):\(port)"
        }) {
            if demo { DemoUsers.printInstructions(provisioned, settings: settings, listeners: server.listeners) }
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: server, successTerminationBehavior: .gracefullyShutdownGroup,
                  failureTerminationBehavior: .gracefullyShutdownGroup),
            .init(service: announcer, successTerminationBehavior: .ignore),
        ]
        // Demo: alice watches bob over SIP and prints what she sees.
        if demo, Role.demoWatchesPresence, provisioned.count >= 2, let udp = server.listeners.first(where: { $0.transport == .udp }) {
            let host = udp.isWildcard ? "127.0.0.1" : udp.host
            let watcher = DemoWatcher(watcher: provisioned[0], presentity: provisioned[1].aor,
                                      server: SIPHostPort(host: host, port: udp.port), logger: logger)
            services.append(.init(service: watcher, successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore))
        }
        let group = ServiceGroup(configuration: .init(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        do {
            try await group.run()
        } catch {
            fail(name, oneLine(error))
        }
        logger.info("stopped")
    }

    /// The `--help` text every role shares: exit status, the config file, the environment.
    public static let sharedDiscussion = """
        Prints one line per listener once it accepts traffic (`listening udp 127.0.0.1:5060`), \
        exits 0 on SIGTERM or SIGINT after a graceful shutdown, and exits with a one-line reason \
        when it cannot start: 2 for a bad option or setting, 1 otherwise (port taken, \
        unreadable certificate, unusable store).

        Settings, highest precedence first: command-line options; environment variables SIP_ \
        and the option's name in capitals with - as _ (SIP_DATA, SIP_DOMAIN, SIP_LISTEN, \
        SIP_SERVER_NAME, SIP_TLS_CERT, SIP_TLS_KEY, SIP_TLS_CA, SIP_AUTH, SIP_DIGEST_ALGORITHMS, \
        SIP_LOG_LEVEL, SIP_ARCHIVE, SIP_ARCHIVE_REQUIRED, SIP_METRICS, SIP_LOG_REQUESTS; a repeatable option takes a comma-separated list, SIP_CONFIG names the \
        config file); the config file; the defaults. A repeatable option is taken whole from \
        the first of these that sets it.

        Config file (--config FILE): `key = value` lines named after the long options \
        (`domain = example.com`, `listen = udp:0.0.0.0:5060`, `auth = off`); `#` starts a \
        comment; values may be double-quoted; a repeatable option may appear on several lines.

        Demo mode (--demo): provisions alice and bob in the first domain (default localhost) of \
        the store in --data with fresh random passwords (printed; every --demo run sets new \
        ones), and prints a sipsak command that registers alice with digest authentication.
        """

    /// One malloc arena: glibc's per-thread arenas keep the garbage of a burst of requests
    /// resident; with one, resident memory per binding is about halved (the benchmark's
    /// 10,000 bindings: ~1.5 KB -> ~0.7 KB each) for a little allocator contention. Call it
    /// first in `main.swift`, before any other thread exists. `mallopt` is not in the Glibc
    /// module, hence the lookup.
    public static func useOneMallocArena() {
        #if canImport(Glibc)
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(nil, "mallopt") else { return }
        _ = unsafeBitCast(symbol, to: Mallopt.self)(-8, 1)  // M_ARENA_MAX = -8 (malloc.h)
        #endif
    }

    /// The process's environment variables.
    public static func processEnvironment() -> [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let eq = text.firstIndex(of: "=") {
                result[String(text[..<eq])] = String(text[text.index(after: eq)...])
            }
            pointer += 1
        }
        return result
    }

    /// The default `--server-name`: the host name.
    public static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }

    static func oneLine(_ error: any Error) -> String { oneLine("\(error)") }

    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    static func fail(_ name: String, _ reason: String, code: Int32 = 1) -> Never {
        var text = "\(name): \(oneLine(reason))\n"
        fflush(nil)
        text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
        exit(code)
    }
}

/// Prints `listening TRANSPORT HOST:PORT` per listener once the group runs, then waits.
/// With `--metrics`, then `metrics http HOST:PORT` once the HTTP endpoint is bound.
struct Announcer: Service {
    let listeners: [ListenAddress]
    let metrics: @Sendable () async -> String?
    let then: @Sendable () -> Void

    func run() async throws {
        for listener in listeners { print("listening \(listener)") }
        fflush(nil)
        if let line = await metrics() {
            print(line)
            fflush(nil)
        }
        then()
        try? await gracefulShutdown()
    }
}
