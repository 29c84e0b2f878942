/// The shared server options of CONTRACT.md, resolved by `SettingsReader` from the command
/// line, the environment (`SIP_*`) and a config file, in that order of precedence; a
/// repeatable option given at a higher level replaces the lower levels' values. The three
/// server executables share it and differ in their policy.
public struct ServerSettings: Hashable, Sendable {
    public enum LogLevel: String, Hashable, Sendable, CaseIterable {
        case trace, debug, info, notice, warning, error, critical
    }

    public var dataDirectory = "./sip-data"
    public var domains = ["localhost"]
    public var listen: [ListenAddress] = []
    public var serverName: String
    public var tlsCertificate: String?
    public var tlsKey: String?
    public var tlsCA: String?
    public var authentication = true
    /// Digest challenges in the order offered (RFC 8760 §2.4: most preferred first; a UAC
    /// uses the topmost it supports). MD5 alone by default, as Kamailio offers: deployed
    /// clients (sipp, sipsak) answer only the first challenge and know only MD5, and libre
    /// (baresip 1.0) gives up on a challenge list holding SHA-256. `digest-algorithms =
    /// SHA-256,MD5` (or `MD5,SHA-256`) also offers RFC 8760's SHA-256.
    public var digestAlgorithms: [String] = ["MD5"]
    public var logLevel = LogLevel.info
    /// Known servers of the mesh (`--peer NAME=tls:HOST:PORT`): where they listen, and the
    /// trust domain (RFC 3325) whose asserted identities this server believes.
    public var peers: [PeerServer] = []
    /// Partner domains and the servers that reach them (`--federate DOMAIN=SERVER`).
    public var federations = DomainRoutes()
    /// Nameservers for RFC 3263 lookups (`--dns-server HOST:PORT`); empty: /etc/resolv.conf.
    public var dnsServers: [ListenAddress] = []
    /// `--archive`: where relayed MESSAGEs are archived: `sqlite` (the archive beside the
    /// spool in the data directory) or a `postgresql://` URL; nil is off.
    public var archive: String?
    /// `--archive-required`: refuse IM with 503 while the archive spool cannot be written.
    public var archiveRequired = false
    /// `--metrics HOST:PORT`: the HTTP endpoint of `/metrics` and `/health`; nil is off.
    public var metrics: ListenAddress?
    /// `--log-requests`: one `info` line per relayed request.
    public var logRequests = false
    /// `--directory postgresql://...`: users, their directory fields and access lists in a
    /// PostgreSQL shared by several servers; nil: the embedded store in the data directory.
    public var directory: String?

    public init(serverName: String) { self.serverName = serverName }

    /// CONTRACT.md defaults: `udp:0.0.0.0:5060`, `tcp:0.0.0.0:5060`, and `tls:0.0.0.0:5061`
    /// when a certificate is set.
    public var effectiveListen: [ListenAddress] {
        if !listen.isEmpty { return listen }
        var l = [ListenAddress(transport: .udp, host: "0.0.0.0", port: 5060),
                 ListenAddress(transport: .tcp, host: "0.0.0.0", port: 5060)]
        if tlsCertificate != nil { l.append(ListenAddress(transport: .tls, host: "0.0.0.0", port: 5061)) }
        return l
    }

    /// The keys a config file may use: the long option names (ServerOptions.settingKeys adds
    /// the CONTRACT options that are not supported yet, so that they are refused by name).
    public static let keys: Set<String> = ["data", "domain", "listen", "server-name", "tls-cert", "tls-key",
                                           "tls-ca", "auth", "digest-algorithms", "log-level", "peer", "federate", "dns-server",
                                           "archive", "archive-required", "metrics", "log-requests", "directory"]
    /// The keys that take several values (an option given several times).
    public static let repeatable: Set<String> = ["domain", "listen", "peer", "federate", "dns-server"]

    /// Applies `key = value` settings in order; a repeatable key's values accumulate, and
    /// the first value of a repeatable key in `entries` replaces what was there before.
    public mutating func apply(_ entries: [(key: String, value: String)]) throws(RolesError) {
        var accumulated: [String: [String]] = [:]
        for (key, value) in entries {
            if Self.repeatable.contains(key) {
                accumulated[key, default: []].append(value)
                try set(key, to: accumulated[key]!)
            } else {
                try set(key, to: [value])
            }
        }
        try validate()
    }

    /// Sets one setting: a repeatable key takes all `values` (replacing what was there), any
    /// other key the last one. Throws with a reason naming the key when a value is unusable.
    public mutating func set(_ key: String, to values: [String]) throws(RolesError) {
        if key == "domain" {
            domains = []
            for value in values {
                guard !value.isEmpty, !value.contains(" ") else { throw bad("bad domain '\(value)'") }
                domains.append(value.lowercased())
            }
            return
        }
        if key == "listen" {
            listen = []
            for value in values {
                guard let address = ListenAddress(spec: value) else {
                    throw bad("bad listen '\(value)' (expected udp:HOST:PORT, tcp:HOST:PORT, tls:HOST:PORT or mtls:HOST:PORT)")
                }
                listen.append(address)
            }
            return
        }
        if key == "peer" {
            peers = []
            for value in values {
                guard let peer = PeerServer(spec: value) else { throw bad("bad peer '\(value)' (expected NAME=tls:HOST:PORT)") }
                peers.append(peer)
            }
            return
        }
        if key == "dns-server" {
            dnsServers = []
            for value in values {
                guard let address = ListenAddress(spec: "udp:" + value) else {
                    throw bad("bad dns-server '\(value)' (expected HOST:PORT, an IP address)")
                }
                dnsServers.append(address)
            }
            return
        }
        if key == "federate" {
            federations = try DomainRoutes(values, option: "federate")
            return
        }
        guard let value = values.last else { return }
        switch key {
        case "data":
            guard !value.isEmpty else { throw bad("empty data") }
            dataDirectory = value
        case "server-name":
            guard !value.isEmpty else { throw bad("empty server-name") }
            serverName = value
        case "tls-cert": tlsCertificate = value
        case "tls-key": tlsKey = value
        case "tls-ca": tlsCA = value
        case "auth":
            switch value.lowercased() {
            case "on": authentication = true
            case "off": authentication = false
            default: throw bad("bad auth '\(value)' (expected on or off)")
            }
        case "digest-algorithms":
            let names = value.split(separator: ",").map { $0.filter { $0 != " " }.uppercased() }
            guard !names.isEmpty, Set(names).count == names.count,
                  names.allSatisfy({ $0 == "MD5" || $0 == "SHA-256" }) else {
                throw bad("bad digest-algorithms '\(value)' (expected MD5 and/or SHA-256, comma-separated, most preferred first)")
            }
            digestAlgorithms = names
        case "log-level":
            guard let level = LogLevel(rawValue: value.lowercased()) else {
                throw bad("bad log-level '\(value)' (expected \(LogLevel.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            logLevel = level
        case "archive":
            switch value.lowercased() {
            case "sqlite", "": archive = "sqlite"
            case "off": archive = nil
            default:
                guard value.hasPrefix("postgresql://") || value.hasPrefix("postgres://") else {
                    throw bad("bad archive '\(value)' (expected sqlite or postgresql://...)")
                }
                archive = value
            }
        case "directory":
            switch value.lowercased() {
            case "", "sqlite", "embedded": directory = nil
            default:
                guard value.hasPrefix("postgresql://") || value.hasPrefix("postgres://") else {
                    throw bad("bad directory '\(value)' (expected postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE)")
                }
                directory = value
            }
        case "archive-required":
            guard let on = Self.switchValue(value) else { throw bad("bad archive-required '\(value)' (expected on or off)") }
            archiveRequired = on
        case "log-requests":
            guard let on = Self.switchValue(value) else { throw bad("bad log-requests '\(value)' (expected on or off)") }
            logRequests = on
        case "metrics":
            guard let address = ListenAddress(spec: "tcp:" + value) else {
                throw bad("bad metrics '\(value)' (expected HOST:PORT)")
            }
            metrics = address
        default:
            throw bad("unknown setting '\(key)'")
        }
    }

    /// Checks what no single setting can: a tls listener needs a certificate and its key.
    public func validate() throws(RolesError) {
        if effectiveListen.contains(where: { $0.requiresClientCertificate }), tlsCA == nil {
            throw bad("an mtls listener needs --tls-ca (the CA peer certificates must chain to)")
        }
        if effectiveListen.contains(where: { $0.transport == .tls }), tlsCertificate == nil || tlsKey == nil {
            throw bad("a tls listener needs --tls-cert and --tls-key")
        }
        if !peers.isEmpty || !federations.isEmpty, tlsCertificate == nil || tlsKey == nil || tlsCA == nil {
            throw bad("--peer and --federate need mutual TLS: --tls-cert, --tls-key and --tls-ca")
        }
        if archiveRequired, archive == nil { throw bad("--archive-required needs --archive") }
    }

    /// `on`/`off` (also true/false, yes/no; empty is on, as a bare flag).
    static func switchValue(_ value: String) -> Bool? {
        switch value.lowercased() {
        case "on", "true", "yes", "": true
        case "off", "false", "no": false
        default: nil
        }
    }

    func bad(_ reason: String) -> RolesError { RolesError(.badConfiguration, reason) }

    /// Reads a config file: `key = value` lines named after the long options, `#` comments,
    /// blank lines ignored, values optionally in double quotes.
    public static func parseConfigFile(_ text: String, name: String = "config",
                                       keys: Set<String> = keys) throws(RolesError) -> [(key: String, value: String)] {
        var entries: [(key: String, value: String)] = []
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = Substring(rawLine)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            let trimmed = line.trimmingWhitespace.replacing("\r", with: "")
            if trimmed.isEmpty { continue }
            guard let eq = trimmed.firstIndex(of: "=") else {
                throw RolesError(.badConfiguration, "\(name):\(number + 1): expected key = value")
            }
            var key = trimmed[..<eq].trimmingWhitespace
            if key.hasPrefix("--") { key.removeFirst(2) }
            var value = trimmed[trimmed.index(after: eq)...].trimmingWhitespace
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            guard keys.contains(key) else {
                throw RolesError(.badConfiguration, "\(name):\(number + 1): unknown setting '\(key)'")
            }
            entries.append((key, value))
        }
        return entries
    }
}
