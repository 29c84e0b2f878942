import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Loopback ports for servers and peer programs that must be told their port before they bind.
///
/// A port learned by binding port 0 and releasing it lies in the kernel's ephemeral range, so
/// any outgoing connection or port-0 bind made meanwhile (by a parallel test) can take it:
/// "Address already in use". These ports come from below that range instead, where the kernel
/// never hands one out by itself, one after another from a start that depends on the process,
/// and each is checked free for both TCP and UDP before it is returned.
public enum TestPorts {
    static let range: Range<Int> = {
        // ip_local_port_range is "low high"; stay under its low end (32768 by default).
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        let low = text.split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) } ?? 32_768
        let upper = max(min(low, 65_536), 12_000)
        return 10_000..<upper
    }()
    static let next = Atomic<Int>(Int(getpid()) &* 7_919)

    /// A loopback port no socket is bound to right now, TCP or UDP, outside the ephemeral range.
    public static func loopback() throws -> Int { try loopback(consecutive: 1) }

    /// The first of `consecutive` adjacent free loopback ports (baresip, for one, binds TLS on
    /// its SIP port + 1); none of them is handed out again by this process.
    public static func loopback(consecutive count: Int) throws -> Int {
        for _ in 0..<(range.count / count) {
            let step = next.add(count, ordering: .relaxed).newValue - count
            let first = range.lowerBound + ((step % range.count) + range.count) % range.count
            guard first + count <= range.upperBound else { continue }
            let ports = first..<(first + count)
            if ports.allSatisfy({ isFree($0, type: Int32(SOCK_STREAM.rawValue)) && isFree($0, type: Int32(SOCK_DGRAM.rawValue)) }) {
                return first
            }
        }
        throw POSIXError(.EADDRINUSE)
    }

    static func isFree(_ port: Int, type: Int32) -> Bool {
        let fd = socket(AF_INET, type, 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
