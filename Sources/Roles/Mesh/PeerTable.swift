import SIPCore
import SIPTransaction
import SIPTransport
import Synchronization

/// One known server of the mesh (`--peer NAME=tls:HOST:PORT`): the name its certificate
/// carries (a home server's name in the directory) and where it listens.
public struct PeerServer: Hashable, Sendable, CustomStringConvertible {
    /// Lowercased: certificate names and directory names compare case-insensitively.
    public var name: String
    public var address: ListenAddress

    public init(name: String, address: ListenAddress) {
        self.name = name.lowercased()
        self.address = address
    }

    /// Parses `NAME=tls:HOST:PORT`; nil when malformed or not TLS (server-to-server traffic
    /// is mutual TLS only).
    public init?(spec: String) {
        guard let eq = spec.firstIndex(of: "="), eq != spec.startIndex else { return nil }
        let name = String(spec[..<eq])
        guard !name.contains(" "), !name.contains(":"),
              let address = ListenAddress(spec: String(spec[spec.index(after: eq)...])),
              address.transport == .tls else { return nil }
        self.init(name: name, address: address)
    }

    public var description: String { "\(name)=\(address.transport.rawValue):\(address.host):\(address.port)" }

    /// The next hop to this server: TLS to its address, its certificate must carry its name
    /// (RFC 5922 §7.2).
    public var nextHop: NextHop {
        var hop = NextHop(transport: .tls, host: address.host, port: address.port)
        hop.tlsServerName = name
        return hop
    }

    /// A SIP URI naming this server (a 3xx Contact: "try the home server").
    public var uri: String {
        let h = address.host.utf8.contains(UInt8(ascii: ":")) ? "[\(address.host)]" : address.host
        return "sip:\(h):\(address.port);transport=tls"
    }
}

/// The servers this one knows by name (`--peer`) and trusts (RFC 3325 §2.3: the trust
/// domain). A request that arrives over TLS from a connection whose verified certificate
/// (chained to `--tls-ca` by the transport) carries one of these names comes from a trusted
/// peer: its `P-Asserted-Identity` is believed and it is not challenged again. Nothing else
/// confers trust: not an address, not a header.
public struct PeerTable: Sendable {
    public let peers: [String: PeerServer]
    /// The last connection each peer reached us over (RFC 5923: reused both ways).
    public let flows: PeerFlows

    public init(_ peers: [PeerServer] = []) {
        var table: [String: PeerServer] = [:]
        for peer in peers { table[peer.name] = peer }
        self.peers = table
        self.flows = PeerFlows()
    }

    public var isEmpty: Bool { peers.isEmpty }

    public func peer(named name: String) -> PeerServer? { peers[name.lowercased()] }

    /// The trusted peer among a verified certificate's names (nil: none of them is a peer).
    public func trustedPeer(certificateNames names: [String]) -> PeerServer? {
        for name in names { if let peer = peers[name.lowercased()] { return peer } }
        return nil
    }

    /// The next hop to peer `name`: its listener, over the connection it last reached us on
    /// while that is open (RFC 5923 connection reuse, both ways).
    public func nextHop(to peer: PeerServer) -> NextHop {
        var hop = peer.nextHop
        if let flow = flows.flow(of: peer.name) {
            hop.flowID = flow.id
            hop.flowAddress = flow.address
        }
        return hop
    }
}

/// Per peer, the connection it last reached us over (at most one entry per `--peer`).
public final class PeerFlows: Sendable {
    public struct Flow: Hashable, Sendable {
        public var id: UInt64
        public var address: SIPHostPort
    }

    private let table = Mutex<[String: Flow]>([:])

    public init() {}

    func flow(of name: String) -> Flow? { table.withLock { $0[name] } }

    /// Notes that `name` (a peer) reached us over `source`'s connection.
    func record(_ name: String, source: RequestSource) {
        guard let id = source.flowID else { return }
        let flow = Flow(id: id, address: SIPHostPort(host: source.host, port: source.port))
        table.withLock { if $0[name] != flow { $0[name] = flow } }
    }
}
