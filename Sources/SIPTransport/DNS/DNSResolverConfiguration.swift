#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// How a ``DNSResolver`` asks: which nameservers, how long it waits, how often it retries,
/// and the bounds on its cache and queries in flight.
public struct DNSResolverConfiguration: Sendable {
    /// Asked in turn: attempt `i` goes to `nameservers[i % count]`.
    public var nameservers: [SocketAddress]
    /// How long one attempt waits for its answer.
    public var timeout: TimeAmount
    /// Rounds over the nameserver list before a query fails (resolv.conf `attempts`).
    public var attempts: Int
    /// The most answers the cache holds.
    public var cacheCapacity: Int
    /// The longest any answer is cached (seconds).
    public var maxTTL: UInt32
    /// The longest a negative answer (NXDOMAIN, no records) is cached (seconds); the SOA
    /// minimum of the response lowers it (RFC 2308 §5).
    public var negativeTTL: UInt32
    /// The most distinct questions in flight; more fail at once with `.dnsOverloaded`.
    public var maxQueriesInFlight: Int

    public init(nameservers: [SocketAddress], timeout: TimeAmount = .seconds(2), attempts: Int = 2,
                cacheCapacity: Int = 10_000, maxTTL: UInt32 = 86_400, negativeTTL: UInt32 = 30,
                maxQueriesInFlight: Int = 1_024) {
        self.nameservers = nameservers
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.cacheCapacity = cacheCapacity
        self.maxTTL = maxTTL
        self.negativeTTL = negativeTTL
        self.maxQueriesInFlight = max(1, maxQueriesInFlight)
    }

    /// The system's configuration: the `nameserver` lines and `options timeout:`/`attempts:`
    /// of `/etc/resolv.conf` (resolv.conf(5)); 127.0.0.1:53 when it names none or is missing.
    public static func system(path: String = "/etc/resolv.conf") -> DNSResolverConfiguration {
        parsingResolvConf(readSmallFile(path) ?? "")
    }

    /// The first 64 KiB of a file, or nil (no Foundation in this target).
    static func readSmallFile(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes = [UInt8](repeating: 0, count: 65_536)
        let n = bytes.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
        return String(decoding: bytes.prefix(n), as: UTF8.self)
    }

    /// A configuration from the text of a resolv.conf: `nameserver ADDR` lines (IPv4 or
    /// IPv6, port 53, at most 8; a line that is no address is skipped), `options timeout:N attempts:N`.
    /// Comments start with `#` or `;`. Without a usable nameserver, 127.0.0.1:53.
    public static func parsingResolvConf(_ text: String) -> DNSResolverConfiguration {
        var servers: [SocketAddress] = []
        var config = DNSResolverConfiguration(nameservers: [])
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.split(maxSplits: 1, omittingEmptySubsequences: false,
                                     whereSeparator: { $0 == "#" || $0 == ";" }).first ?? ""
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let keyword = words.first else { continue }
            switch keyword {
            case "nameserver" where words.count >= 2:
                if servers.count < 8, let address = try? SocketAddress(ipAddress: String(words[1]), port: 53) {
                    servers.append(address)
                }
            case "options":
                for option in words.dropFirst() {
                    let parts = option.split(separator: ":", maxSplits: 1)
                    guard parts.count == 2, let n = Int(parts[1]), n > 0 else { continue }
                    if parts[0] == "timeout" { config.timeout = .seconds(Int64(min(n, 30))) }
                    if parts[0] == "attempts" { config.attempts = min(n, 5) }
                }
            default:
                continue
            }
        }
        if servers.isEmpty, let local = try? SocketAddress(ipAddress: "127.0.0.1", port: 53) {
            servers.append(local)
        }
        config.nameservers = servers
        return config
    }
}
