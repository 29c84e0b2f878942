import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension SocketAddress {
    /// Whether a datagram may be sent here from a socket bound to `local`: a port, and a
    /// unicast address the socket can reach. Never the unspecified, a multicast, a reserved
    /// (240.0.0.0/4) or a broadcast address (255.255.255.255, 127.255.255.255, any local
    /// interface's: RFC 4475 §3.3.10 bcast), never a link-local IPv6 address without a
    /// scope, from a loopback-bound socket only loopback, and only the socket's own address
    /// family (an IPv6 address from an IPv4 socket). The kernel fails such a write
    /// (EACCES, EINVAL, EAFNOSUPPORT) and NIO closes a UDP socket whose write fails that way, so one forged
    /// Via or Contact could otherwise take the listener down for everybody.
    func isUsableUnicastDestination(from local: SocketAddress?) -> Bool {
        guard let port, (1...65535).contains(port) else { return false }
        switch self {
        case .v4(let a):
            let ip = UInt32(bigEndian: a.address.sin_addr.s_addr)
            if ip >> 24 == 0 { return false }  // 0.0.0.0/8, "this network"
            if ip >> 28 >= 0xE { return false }  // 224.0.0.0/4 multicast, 240.0.0.0/4 reserved and broadcast
            if ip == 0x7FFF_FFFF || LocalBroadcast.addresses.contains(ip) { return false }
            if case .v6 = local { return false }
            if case .v4(let l) = local, UInt32(bigEndian: l.address.sin_addr.s_addr) >> 24 == 127 { return ip >> 24 == 127 }
            return true
        case .v6(let a):
            let bytes = withUnsafeBytes(of: a.address.sin6_addr) { Array($0) }
            if bytes.allSatisfy({ $0 == 0 }) { return false }
            if bytes[0] == 0xFF { return false }  // ff00::/8 multicast
            if bytes[0] == 0xFE, bytes[1] & 0xC0 == 0x80, a.address.sin6_scope_id == 0 { return false }  // fe80::/10 needs a scope
            if case .v4 = local { return false }
            if case .v6(let l) = local, Self.isLoopback(l.address.sin6_addr) { return Self.isLoopback(a.address.sin6_addr) }
            return true
        default:
            return false
        }
    }

    private static func isLoopback(_ address: in6_addr) -> Bool {
        withUnsafeBytes(of: address) { b in b.prefix(15).allSatisfy { $0 == 0 } && b[15] == 1 }
    }
}

/// The broadcast addresses of this host's IPv4 interfaces, read once.
enum LocalBroadcast {
    static let addresses: Set<UInt32> = {
        var found = Set<UInt32>()
        for device in (try? System.enumerateDevices()) ?? [] {
            if case .v4(let b) = device.broadcastAddress { found.insert(UInt32(bigEndian: b.address.sin_addr.s_addr)) }
        }
        return found
    }()
}
