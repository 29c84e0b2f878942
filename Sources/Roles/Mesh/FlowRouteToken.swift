import Crypto
import Registrar
import SIPCore
import SIPDigest
import SIPTransaction

/// The flow of a client behind this proxy, carried in the user part of the Path (RFC 3327)
/// or Record-Route URI this proxy inserts (the technique of RFC 5626 §5.1): when a request
/// for the client comes back with that URI as its Route, the proxy sends it over the same
/// flow (the connection, or the address a UDP client sent from), whatever the client wrote in
/// its Contact. An HMAC-SHA-256 (96 bits) with a secret of this process makes it
/// unforgeable: a Route written by an attacker names no flow, so this proxy is no open relay.
/// After a restart old tokens stop verifying; clients register again (their connections
/// closed with the process anyway).
public enum FlowRouteToken {
    /// A client's flow: how and where it reached us.
    public struct Flow: Hashable, Sendable {
        public var transport: ListenTransport
        public var host: String
        public var port: Int
        /// The connection (TCP/TLS); nil for UDP.
        public var connectionID: UInt64?

        public init(transport: ListenTransport, host: String, port: Int, connectionID: UInt64?) {
            self.transport = transport
            self.host = host
            self.port = port
            self.connectionID = connectionID
        }

        /// The flow a request came over.
        public init(_ source: RequestSource) {
            self.init(transport: source.transport, host: source.host, port: source.port, connectionID: source.flowID)
        }

        /// The next hop over this flow: the connection while it is open, else its address.
        public var nextHop: NextHop {
            NextHop(transport: transport, host: host, port: port, flowID: connectionID,
                    flowAddress: connectionID == nil ? nil : SIPHostPort(host: host, port: port))
        }
    }

    static let key = SymmetricKey(size: .bits256)
    static let prefix = "f-"

    /// The URI user part for `flow`: `f-` then the flow in hex, `-`, then the MAC.
    public static func make(_ flow: Flow) -> String {
        let text = Array(describe(flow).utf8)
        return prefix + Hex.string(text) + "-" + mac(text)
    }

    /// The flow a user part names, if it is a token this process made.
    public static func verify(_ user: String) -> Flow? {
        guard user.hasPrefix(prefix), user.utf8.count < 300 else { return nil }
        let parts = user.dropFirst(prefix.count).split(separator: "-")
        guard parts.count == 2, let text = unhex(parts[0]),
              constantTimeEquals(Array(mac(text).utf8), Array(parts[1].utf8)) else { return nil }
        return parse(String(decoding: text, as: UTF8.self))
    }

    /// `tcp|host|port|id` (id empty for UDP).
    static func describe(_ flow: Flow) -> String {
        "\(flow.transport.rawValue)|\(flow.host)|\(flow.port)|\(flow.connectionID.map(String.init) ?? "")"
    }

    static func parse(_ text: String) -> Flow? {
        let fields = text.split(separator: "|", omittingEmptySubsequences: false)
        guard fields.count == 4, let transport = ListenTransport(rawValue: String(fields[0])),
              let port = Int(fields[2]) else { return nil }
        let id = fields[3].isEmpty ? nil : UInt64(fields[3])
        return Flow(transport: transport, host: String(fields[1]), port: port, connectionID: id)
    }

    static func mac(_ bytes: [UInt8]) -> String {
        let code = Array(HMAC<SHA256>.authenticationCode(for: bytes, using: key))
        return Hex.string(Array(code[0..<12]))
    }

    /// The flow text of a token's hex part: lower-case hex only, so a token has one spelling.
    static func unhex(_ text: Substring) -> [UInt8]? {
        guard !text.utf8.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "F") }) else { return nil }
        return Hex.decode(String(text))
    }
}
