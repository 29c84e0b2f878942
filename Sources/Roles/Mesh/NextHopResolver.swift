import NIOCore
import NIOPosix
import SIPCore
import SIPDialog
import SIPTransport

/// Where a next hop named by a host name goes (RFC 3263 §4): a `--peer` by its name (its
/// listener, over the connection it last reached us on), else DNS through SIPTransport's
/// `SIPServerLocator` (NAPTR, SRV ordered by priority and weight, A/AAAA; cached per TTL).
/// Numeric hops pass through. The candidates come back most preferred first; the proxy
/// sends to the first and fails over to the next on a transport error, a timeout or a 503.
public struct NextHopResolver: Sendable {
    public let peers: PeerTable
    /// nil: names that are not peers do not resolve (the branch fails with 503).
    public let locator: SIPServerLocator?

    public init(peers: PeerTable, locator: SIPServerLocator?) {
        self.peers = peers
        self.locator = locator
    }

    /// The candidates for `hop` at once when no lookup is needed (numeric or a peer), else nil.
    public func resolveNow(_ hop: NextHop) -> [NextHop]? {
        if hop.isNumericHost { return [hop] }
        guard let peer = peers.peer(named: DialogDestination.bareHost(hop.host)) else { return nil }
        var found = peers.nextHop(to: peer)
        if hop.flowID != nil {
            found.flowID = hop.flowID
            found.flowAddress = hop.flowAddress
        }
        return [found]
    }

    /// The candidates for `hop`; `completion` runs on the caller's event loop when it is one
    /// (at once for numeric hops and peers), with an empty list when nothing resolves.
    public func resolve(_ hop: NextHop, completion: @escaping @Sendable ([NextHop]) -> Void) {
        if let now = resolveNow(hop) { return completion(now) }
        guard let locator else { return completion([]) }
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        let hints = hop.lookup
        locator.locate(host: DialogDestination.bareHost(hop.host), port: hints.port, transport: hints.transport,
                       secure: hints.secure, on: loop).whenComplete { result in
            switch result {
            case .success(let targets):
                completion(targets.compactMap { target in
                    guard let ip = target.address.ipAddress else { return nil }
                    var next = NextHop(transport: target.transport, host: ip, port: target.port)
                    next.tlsServerName = target.tlsServerName ?? (target.transport == .tls ? hop.tlsServerName : nil)
                    return next
                })
            case .failure:
                completion([])
            }
        }
    }
}

extension NextHop {
    /// What RFC 3263 needs from the URI the hop came from: an explicit port, an explicit
    /// transport, sips. A hop made without a URI asks for its port and transport as given.
    public struct Lookup: Hashable, Sendable {
        public var port: Int?
        public var transport: ListenTransport?
        public var secure: Bool
        public init(port: Int?, transport: ListenTransport?, secure: Bool) {
            self.port = port
            self.transport = transport
            self.secure = secure
        }
    }
}
