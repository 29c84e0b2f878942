import NIOCore

/// One place RFC 3263 §4 says a request may go: a transport, the host it was found under
/// (an SRV target or the URI's host), the port and one resolved address.
public struct SIPServerTarget: Hashable, Sendable, CustomStringConvertible {
    public var transport: SIPTransportKind
    /// The SRV target, or the URI's host (a numeric host as given, without brackets).
    public var host: String
    public var port: Int
    /// `host`'s address with `port`.
    public var address: SocketAddress
    /// For TLS, the name the server's certificate must carry: the URI's domain, not the SRV
    /// target (RFC 5922 §4.1, RFC 3263 §4); nil for a numeric host or a non-TLS transport.
    public var tlsServerName: String?

    public init(transport: SIPTransportKind, host: String, port: Int, address: SocketAddress,
                tlsServerName: String? = nil) {
        self.transport = transport
        self.host = host
        self.port = port
        self.address = address
        self.tlsServerName = tlsServerName
    }

    /// The endpoint to hand to the transport layer.
    public var endpoint: SIPEndpoint {
        SIPEndpoint(transport: transport, address: address, tlsServerName: tlsServerName)
    }

    public var description: String { "\(transport):\(host):\(port)@\(address.sipHostPort)" }
}

/// Walks the targets of ``SIPServerLocator`` in order, for failover (RFC 3263 §4.3): send to
/// `next()`; when that target fails with a transport error (connection refused, reset, TLS
/// failure), a transaction timeout (Timer B or F, RFC 3261 §17.1), or a 503 (Service
/// Unavailable) response, call `next()` again and send a new transaction (new branch) there.
/// Nil means every target failed: the proxy answers as RFC 3261 §16.7 says for its branch
/// (408 after timeouts, 503 otherwise).
public struct SIPTargetIterator: IteratorProtocol, Sendable {
    public let targets: [SIPServerTarget]
    /// How many targets `next()` has handed out.
    public private(set) var tried = 0

    public init(_ targets: [SIPServerTarget]) {
        self.targets = targets
    }

    public mutating func next() -> SIPServerTarget? {
        guard tried < targets.count else { return nil }
        defer { tried += 1 }
        return targets[tried]
    }

    /// The target last handed out, nil before the first `next()`.
    public var current: SIPServerTarget? { tried == 0 ? nil : targets[tried - 1] }
    /// Targets not yet handed out.
    public var remaining: Int { targets.count - tried }
}

/// RFC 2782 ordering of SRV records.
public enum SRVOrdering {
    /// A source of random numbers in `0..<upperBound` (upperBound > 0); injectable so tests
    /// are deterministic.
    public typealias RandomSource = @Sendable (_ upperBound: Int) -> Int

    /// The system generator.
    public static let systemRandom: RandomSource = { Int.random(in: 0..<$0) }

    /// Orders `records` by priority (lowest first); within one priority by weighted random
    /// selection (RFC 2782 "Usage rules"): repeatedly pick a record with probability
    /// weight / (sum of the weights not yet picked). Deviation, as Go's net package does:
    /// the random number is drawn from `0..<sum` and the first running sum greater than it
    /// wins, so the shares are exactly proportional to the weights (RFC 2782's inclusive
    /// draw biases the first record); records of weight 0 follow the weighted ones of their
    /// priority, in random order.
    public static func order(_ records: [DNSSRVRecord], random: RandomSource) -> [DNSSRVRecord] {
        let priorities = Set(records.map(\.priority)).sorted()
        var out: [DNSSRVRecord] = []
        out.reserveCapacity(records.count)
        for priority in priorities {
            var remaining = records.filter { $0.priority == priority && $0.weight > 0 }
            var zero = records.filter { $0.priority == priority && $0.weight == 0 }
            while !remaining.isEmpty {
                let sum = remaining.reduce(0) { $0 + Int($1.weight) }
                let draw = pick(random, sum)
                var running = 0
                var chosen = remaining.count - 1
                for (i, record) in remaining.enumerated() {
                    running += Int(record.weight)
                    if running > draw { chosen = i; break }
                }
                out.append(remaining.remove(at: chosen))
            }
            while !zero.isEmpty { out.append(zero.remove(at: pick(random, zero.count))) }
        }
        return out
    }

    /// `random(upperBound)` clamped into range, whatever the source returns.
    private static func pick(_ random: RandomSource, _ upperBound: Int) -> Int {
        min(max(0, random(upperBound)), upperBound - 1)
    }
}
