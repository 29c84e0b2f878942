import NIOCore
import SIPCore

/// What the locator asks DNS; ``DNSResolver`` is the real one, tests may supply a table.
public protocol DNSQuerying: Sendable {
    /// The answer to `name`/`type`, completing on `callerLoop` (or the resolver's own loop).
    func query(_ name: String, type: DNSRecordType, on callerLoop: (any EventLoop)?) -> EventLoopFuture<DNSAnswer>
}

extension DNSResolver: DNSQuerying {}

/// RFC 3263 §4 server location: the ordered targets (transport, host, port, address) a
/// request to a SIP or SIPS URI is sent to. The caller tries them in order with a
/// ``SIPTargetIterator`` (RFC 3263 §4.3 failover).
///
/// - A numeric host: that address; the transport from the `transport` parameter, else UDP
///   (TLS for sips); the port given, else the transport's default (§4.1, §4.2).
/// - A port given: A/AAAA lookups of the host only (§4.2).
/// - A `transport` parameter: SRV for that transport (`_sip._udp`, `_sip._tcp`,
///   `_sips._tcp` for TLS or sips), else A/AAAA with the default port (§4.2).
/// - Otherwise NAPTR (§4.1): records with flag `s` and service `SIP+D2U`, `SIP+D2T`,
///   `SIPS+D2T` (only `SIPS+D2T` for sips), by order then preference, each replacement
///   looked up as SRV. Without any, SRV `_sips._tcp`, `_sip._tcp`, `_sip._udp` (only
///   `_sips._tcp` for sips), in that order. Without any, A/AAAA with UDP port 5060 (TLS
///   5061 for sips).
/// SRV records are ordered by priority, then weight (``SRVOrdering``); each SRV target's
/// addresses (A, then AAAA unless `preferIPv6`) follow in that order. A `transport`
/// parameter this layer does not speak (sctp, ws) is treated as absent.
///
/// ```swift
/// let resolver = DNSResolver(configuration: .system(), eventLoop: group.next())
/// let locator = SIPServerLocator(resolver: resolver)
/// locator.locate(uri, on: context.eventLoop).whenSuccess { targets in
///     var failover = SIPTargetIterator(targets)
///     if let first = failover.next() { send(request, to: first.endpoint) }
///     // on a transport error, timeout or 503: failover.next(), a new branch, send again
/// }
/// ```
public struct SIPServerLocator: Sendable {
    public struct Options: Sendable {
        /// The transports the caller can send over; others are left out of the list.
        public var transports: Set<SIPTransportKind> = Set(SIPTransportKind.allCases)
        public var useIPv4 = true
        public var useIPv6 = true
        /// AAAA addresses before A addresses for each host.
        public var preferIPv6 = false
        /// The longest list returned.
        public var maxTargets = 32
        /// The most NAPTR records, and SRV records per name, followed.
        public var maxRecordsFollowed = 16
        public init() {}
    }

    public let resolver: any DNSQuerying
    public let options: Options
    public let random: SRVOrdering.RandomSource

    public init(resolver: any DNSQuerying, options: Options = Options(),
                random: @escaping SRVOrdering.RandomSource = SRVOrdering.systemRandom) {
        self.resolver = resolver
        self.options = options
        self.random = random
    }

    /// The targets for `uri` (its `maddr` when present, RFC 3263 §4). Completes on `loop`.
    public func locate(_ uri: SIPURI, on loop: any EventLoop) -> EventLoopFuture<[SIPServerTarget]> {
        let kind = uri.transport.flatMap { SIPTransportKind(rawValue: $0) }
        return locate(host: uri.maddr ?? uri.host, port: uri.port, transport: kind, secure: uri.secure, on: loop)
    }

    /// The targets for a host (name, IPv4, IPv6 with or without brackets), an optional port
    /// and transport, and whether the URI is sips. Fails with `.dnsNotFound` when DNS has no
    /// usable records, or with the lookup's error (`.dnsTimeout`, `.dnsFailure`) when
    /// lookups failed and nothing was found.
    public func locate(host rawHost: String, port: Int?, transport: SIPTransportKind?, secure: Bool,
                       on loop: any EventLoop) -> EventLoopFuture<[SIPServerTarget]> {
        var host = rawHost.lowercased()
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let chosen: SIPTransportKind? = secure ? .tls : transport
        if let ip = try? SocketAddress(ipAddress: host, port: port ?? (chosen ?? .udp).defaultPort) {
            let kind = chosen ?? .udp
            guard options.transports.contains(kind) else { return loop.makeFailedFuture(unsupported(kind)) }
            return loop.makeSucceededFuture([SIPServerTarget(transport: kind, host: host, port: ip.port ?? 0, address: ip)])
        }
        host = DNSName.normalize(host)
        guard !host.isEmpty else {
            return loop.makeFailedFuture(SIPTransportError(.invalidDestination, "'\(rawHost)' is not a host"))
        }
        let domain = host
        let found: EventLoopFuture<Found>
        if let port {
            let kind = chosen ?? .udp
            guard options.transports.contains(kind) else { return loop.makeFailedFuture(unsupported(kind)) }
            found = addresses(host, port: port, transport: kind, domain: domain, on: loop)
        } else if let kind = chosen {
            guard options.transports.contains(kind) else { return loop.makeFailedFuture(unsupported(kind)) }
            found = srv(srvName(kind, secure: secure, domain: domain), transport: kind, domain: domain, on: loop)
                .flatMap { result in
                    guard result.targets.isEmpty else { return loop.makeSucceededFuture(result) }
                    return addresses(domain, port: kind.defaultPort, transport: kind, domain: domain, on: loop)
                        .map { result.merging($0) }
                }
        } else {
            found = naptr(domain, secure: secure, on: loop).flatMap { viaNAPTR in
                guard viaNAPTR.targets.isEmpty else { return loop.makeSucceededFuture(viaNAPTR) }
                return srvFallback(domain, secure: secure, on: loop).flatMap { viaSRV in
                    let merged = viaNAPTR.merging(viaSRV)
                    guard merged.targets.isEmpty else { return loop.makeSucceededFuture(merged) }
                    let kind: SIPTransportKind = secure ? .tls : .udp
                    guard options.transports.contains(kind) else { return loop.makeSucceededFuture(merged) }
                    return addresses(domain, port: kind.defaultPort, transport: kind, domain: domain, on: loop)
                        .map { merged.merging($0) }
                }
            }
        }
        let maxTargets = options.maxTargets
        return found.flatMapThrowing { found in
            var seen = Set<SIPEndpoint>()
            let targets = found.targets.filter { seen.insert($0.endpoint).inserted }.prefix(maxTargets)
            guard !targets.isEmpty else {
                throw found.error ?? SIPTransportError(.dnsNotFound, "no SIP server found for \(domain)")
            }
            return Array(targets)
        }
    }

    // MARK: Steps

    /// Targets found so far, and the first lookup error met on the way.
    struct Found: Sendable {
        var targets: [SIPServerTarget] = []
        var error: SIPTransportError?

        func merging(_ other: Found) -> Found {
            Found(targets: targets + other.targets, error: error ?? other.error)
        }

        static func concatenating(_ parts: [Found]) -> Found {
            parts.reduce(Found()) { $0.merging($1) }
        }
    }

    private func unsupported(_ kind: SIPTransportKind) -> SIPTransportError {
        SIPTransportError(.noRoute, "transport \(kind) is not available")
    }

    /// The SRV name for a transport (RFC 3263 §4.2): `_sips._tcp` for TLS or a sips URI.
    func srvName(_ kind: SIPTransportKind, secure: Bool, domain: String) -> String {
        switch kind {
        case .udp: "_sip._udp.\(domain)"
        case .tcp: secure ? "_sips._tcp.\(domain)" : "_sip._tcp.\(domain)"
        case .tls: "_sips._tcp.\(domain)"
        }
    }

    /// A query whose failure becomes an error in ``Found`` rather than a failed future.
    private func ask(_ name: String, _ type: DNSRecordType, on loop: any EventLoop)
        -> EventLoopFuture<Result<DNSAnswer, SIPTransportError>> {
        resolver.query(name, type: type, on: loop).map { .success($0) }.recover { error in
            .failure(error as? SIPTransportError ?? SIPTransportError(.dnsFailure, "\(error)"))
        }
    }

    /// A and AAAA of `host` with `port` (RFC 3263 §4.2).
    func addresses(_ host: String, port: Int, transport: SIPTransportKind, domain: String,
                   on loop: any EventLoop) -> EventLoopFuture<Found> {
        var types: [DNSRecordType] = []
        if options.useIPv4 { types.append(.a) }
        if options.useIPv6 { types.insert(.aaaa, at: options.preferIPv6 ? 0 : types.count) }
        let tlsName = transport == .tls ? domain : nil
        let lookups = types.map { ask(host, $0, on: loop) }
        return EventLoopFuture.whenAllSucceed(lookups, on: loop).map { results in
            var found = Found()
            for result in results {
                switch result {
                case .success(let answer):
                    for record in answer.records {
                        guard let address = record.socketAddress(port: port) else { continue }
                        found.targets.append(SIPServerTarget(transport: transport, host: host, port: port,
                                                             address: address, tlsServerName: tlsName))
                    }
                case .failure(let error):
                    found.error = found.error ?? error
                }
            }
            return found
        }
    }

    /// The targets of one SRV name, in RFC 2782 order.
    func srv(_ name: String, transport: SIPTransportKind, domain: String, on loop: any EventLoop) -> EventLoopFuture<Found> {
        let limit = options.maxRecordsFollowed
        let random = self.random
        return ask(name, .srv, on: loop).flatMap { result in
            let answer: DNSAnswer
            switch result {
            case .failure(let error): return loop.makeSucceededFuture(Found(error: error))
            case .success(let a): answer = a
            }
            let records: [DNSSRVRecord] = answer.records.compactMap {
                if case .srv(let srv) = $0.data, !srv.target.isEmpty { return srv }
                return nil
            }
            let ordered = SRVOrdering.order(Array(records.prefix(limit)), random: random)
            let lookups = ordered.map {
                addresses($0.target, port: Int($0.port), transport: transport, domain: domain, on: loop)
            }
            return EventLoopFuture.whenAllSucceed(lookups, on: loop).map(Found.concatenating)
        }
    }

    /// RFC 3263 §4.1 NAPTR: the usable records by order and preference, each one's SRV.
    func naptr(_ domain: String, secure: Bool, on loop: any EventLoop) -> EventLoopFuture<Found> {
        let transports = options.transports
        let limit = options.maxRecordsFollowed
        return ask(domain, .naptr, on: loop).flatMap { result in
            let answer: DNSAnswer
            switch result {
            case .failure(let error): return loop.makeSucceededFuture(Found(error: error))
            case .success(let a): answer = a
            }
            var usable: [(DNSNAPTRRecord, SIPTransportKind)] = []
            for record in answer.records {
                guard case .naptr(let naptr) = record.data, naptr.flags.lowercased() == "s",
                      naptr.regexp.isEmpty, !naptr.replacement.isEmpty,
                      let kind = Self.transport(forNAPTRService: naptr.service, secure: secure),
                      transports.contains(kind) else { continue }
                usable.append((naptr, kind))
            }
            usable.sort { ($0.0.order, $0.0.preference) < ($1.0.order, $1.0.preference) }
            let lookups = usable.prefix(limit).map { naptr, kind in
                srv(naptr.replacement, transport: kind, domain: domain, on: loop)
            }
            return EventLoopFuture.whenAllSucceed(Array(lookups), on: loop).map(Found.concatenating)
        }
    }

    /// The transport of an RFC 3263 NAPTR service; nil for others (and for non-SIPS ones
    /// when the URI is sips).
    static func transport(forNAPTRService service: String, secure: Bool) -> SIPTransportKind? {
        switch service.uppercased() {
        case "SIPS+D2T": .tls
        case "SIP+D2T" where !secure: .tcp
        case "SIP+D2U" where !secure: .udp
        default: nil
        }
    }

    /// RFC 3263 §4.1 without NAPTR: SRV for each transport the client supports.
    func srvFallback(_ domain: String, secure: Bool, on loop: any EventLoop) -> EventLoopFuture<Found> {
        let kinds: [SIPTransportKind] = (secure ? [.tls] : [.tls, .tcp, .udp]).filter(options.transports.contains)
        let lookups = kinds.map { srv(srvName($0, secure: secure, domain: domain), transport: $0, domain: domain, on: loop) }
        return EventLoopFuture.whenAllSucceed(lookups, on: loop).map(Found.concatenating)
    }
}
