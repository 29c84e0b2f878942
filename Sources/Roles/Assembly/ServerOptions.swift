import ArgumentParser

/// The shared server options of CONTRACT.md, as every server executable parses them. Every
/// value option is optional here: an option left out falls back to the environment, then the
/// config file, then the default (`SettingsReader`), so the defaults live in `ServerSettings`.
///
/// `--directory` is
/// accepted and its syntax checked, but a server given it (on the command
/// line, in the environment or in the file) refuses to start (exit 2, "not supported yet")
/// rather than run without what was asked for.
public struct ServerOptions: ParsableArguments, Sendable {
    @Option(help: ArgumentHelp("Read settings from FILE: `key = value` lines named after the long options (env SIP_CONFIG).",
                               valueName: "FILE"))
    public var config: String?

    @Option(help: ArgumentHelp("Where the embedded SQLite store lives, created if missing (default: ./sip-data).",
                               valueName: "DIR"))
    public var data: String?

    @Option(name: .customLong("domain"),
            help: ArgumentHelp("A SIP domain this server is responsible for; repeatable (default: localhost).",
                               valueName: "NAME"))
    public var domains: [String] = []

    @Option(name: .customLong("listen"),
            help: ArgumentHelp("""
                udp:HOST:PORT, tcp:HOST:PORT, tls:HOST:PORT, or mtls:HOST:PORT (TLS requiring a client \
                certificate that chains to --tls-ca: the listener peer servers use; on tls: listeners a \
                certificate is optional, checked when presented); repeatable (default: udp:0.0.0.0:5060, \
                tcp:0.0.0.0:5060, and tls:0.0.0.0:5061 when a certificate is set).
                """, valueName: "SPEC"))
    public var listen: [String] = []

    @Option(help: ArgumentHelp("This server's name: Via/Record-Route host, and the name its certificate carries (default: the host name).",
                               valueName: "FQDN"))
    public var serverName: String?

    @Option(help: ArgumentHelp("Certificate chain (PEM).", valueName: "PEM"))
    public var tlsCert: String?

    @Option(help: ArgumentHelp("Private key of the certificate (PEM).", valueName: "PEM"))
    public var tlsKey: String?

    @Option(help: ArgumentHelp("CA bundle that peer servers' certificates must chain to (PEM).", valueName: "PEM"))
    public var tlsCa: String?

    @Option(help: ArgumentHelp("Digest authentication of users: on, or off for closed labs and benchmarks (default: on).",
                               valueName: "on|off"))
    public var auth: String?

    @Option(help: ArgumentHelp("""
                Digest algorithms offered in challenges, one WWW-/Proxy-Authenticate header each, most preferred \
                first (RFC 8760): MD5, SHA-256,MD5 or MD5,SHA-256 (default: MD5, as Kamailio offers; sipp and \
                sipsak know only MD5, and baresip 1.0 (libre) gives up on a challenge list with SHA-256 in it).
                """,
                               valueName: "LIST"))
    public var digestAlgorithms: String?

    @Option(help: ArgumentHelp("trace, debug, info, notice, warning, error (default: info).", valueName: "LEVEL"))
    public var logLevel: String?

    @Flag(help: "Provision the demo users alice and bob with fresh random passwords, print them and a sipsak command.")
    public var demo = false

    @Option(help: ArgumentHelp("""
                A known server of the mesh and where it listens; repeatable. Its certificate must chain to --tls-ca and \
                carry NAME; it is trusted (RFC 3325): its P-Asserted-Identity is believed. Names not listed are \
                resolved with DNS (RFC 3263) and not trusted.
                """, valueName: "NAME=tls:HOST:PORT"))
    public var peer: [String] = []

    @Option(help: ArgumentHelp("""
                A partner domain reached through SERVER (a --peer name, a DNS name or tls:HOST:PORT) over mutual TLS; \
                repeatable. Requests from the partner must come from SERVER's certificate; other foreign domains are \
                refused (403).
                """, valueName: "DOMAIN=SERVER"))
    public var federate: [String] = []

    @Option(name: .customLong("dns-server"), help: ArgumentHelp("""
                A nameserver for RFC 3263 lookups of server names that are not --peer names (NAPTR, SRV, \
                A/AAAA); repeatable (default: the nameservers of /etc/resolv.conf).
                """, valueName: "IP:PORT"))
    public var dnsServers: [String] = []

    @Option(help: ArgumentHelp("""
                HTTP endpoint: Prometheus text at /metrics (requests by method, responses by status class, \
                registrations, auth failures, 503s, transactions in flight, relay latency, archive spool depth and \
                lag), /health (200 ok; 503 with the reasons when the store or the archive is down). Port 0: the \
                system chooses; a `metrics http HOST:PORT` line tells.
                """, valueName: "HOST:PORT"))
    public var metrics: String?

    @Flag(help: "One info line per relayed request once answered: method, from, to, call-id, status, latency (never bodies or credentials).")
    public var logRequests = false

    @Option(help: ArgumentHelp("""
                Archive every relayed MESSAGE (from, to, time, Call-ID, CSeq, content, final status) in a durable \
                spool (archive-spool.sqlite in --data) before forwarding it, shipped to the archive database: \
                `sqlite` (also when given bare): archive.sqlite in --data; postgresql://USER:PASSWORD@HOST:PORT/DB: \
                a shared PostgreSQL (schema created by the server).
                """, valueName: "sqlite|postgresql://..."))
    public var archive: String?

    @Flag(help: "Refuse IM with 503 (Retry-After) while the archive spool cannot be written, instead of relaying it unarchived.")
    public var archiveRequired = false

    @Option(help: ArgumentHelp("""
                The user directory (users, directory fields, presence access lists) in a PostgreSQL shared by \
                several servers (schema created by the server), instead of the embedded store in --data; \
                bindings, presence state and contact lists stay in --data.
                """, valueName: "postgresql://USER:PASSWORD@HOST:PORT/DB"))
    public var directory: String?

    public init() {}

    /// The keys of the settings that work, as in a config file (`ServerSettings.keys`).
    public static let supportedKeys = ServerSettings.keys
    /// CONTRACT options that later work implements: refused by name until then.
    public static let unsupportedKeys: Set<String> = []
    /// Every key a config file or `SIP_*` variable may name (`config` and `demo` are command-line
    /// and `SIP_CONFIG` only).
    public static let settingKeys = supportedKeys.union(unsupportedKeys)
    /// The keys that take several values.
    public static let repeatableKeys = ServerSettings.repeatable

    /// The values given on the command line, by setting key.
    public var commandLineValues: [String: [String]] {
        var values: [String: [String]] = [:]
        func add(_ key: String, _ value: String?) { if let value { values[key] = [value] } }
        func many(_ key: String, _ list: [String]) { if !list.isEmpty { values[key] = list } }
        add("data", data)
        many("domain", domains)
        many("listen", listen)
        add("server-name", serverName)
        add("tls-cert", tlsCert)
        add("tls-key", tlsKey)
        add("tls-ca", tlsCa)
        add("auth", auth)
        add("digest-algorithms", digestAlgorithms)
        add("log-level", logLevel)
        many("peer", peer)
        many("federate", federate)
        many("dns-server", dnsServers)
        add("metrics", metrics)
        add("archive", archive)
        add("archive-required", archiveRequired ? "on" : nil)
        add("log-requests", logRequests ? "on" : nil)
        add("directory", directory)
        return values
    }

    /// `--archive` given bare (last, or followed by another option) means `--archive sqlite`
    /// (CONTRACT.md); ArgumentParser options always take a value, so it is filled in first.
    public static func expandingBareArchive(_ arguments: [String]) -> [String] {
        var result: [String] = []
        for (i, argument) in arguments.enumerated() {
            result.append(argument)
            if argument == "--archive", i + 1 == arguments.count || arguments[i + 1].hasPrefix("-") {
                result.append("sqlite")
            }
        }
        return result
    }

    /// Why a value of a not-yet-supported key is refused: its syntax when that is wrong
    /// (`bad peer 'x' (expected NAME=tls:HOST:PORT)`), else "not supported yet".
    static func refusal(_ key: String, _ value: String) -> String {
        func pair(_ text: String) -> (String, String)? {
            guard let eq = text.firstIndex(of: "="), eq != text.startIndex else { return nil }
            let right = String(text[text.index(after: eq)...])
            return right.isEmpty ? nil : (String(text[..<eq]), right)
        }
        let expected: String?
        switch key {
        case "peer":
            let ok = pair(value).flatMap { ListenAddress(spec: $0.1) }?.transport == .tls
            expected = ok ? nil : "NAME=tls:HOST:PORT"
        case "federate": expected = pair(value) == nil ? "DOMAIN=SERVER" : nil
        case "metrics": expected = ListenAddress(spec: "tcp:" + value) == nil ? "HOST:PORT" : nil
        case "archive":
            let ok = value == "sqlite" || value.hasPrefix("postgresql://") || value.hasPrefix("postgres://")
            expected = ok ? nil : "sqlite or postgresql://..."
        case "directory":
            let ok = value.hasPrefix("postgresql://") || value.hasPrefix("postgres://")
            expected = ok ? nil : "postgresql://..."
        default: expected = nil
        }
        if let expected { return "bad \(key) '\(value)' (expected \(expected))" }
        return "\(key) is not supported yet"
    }
}
