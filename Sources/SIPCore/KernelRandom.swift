#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Cryptographically secure random numbers from the kernel, fetched 4 KiB at a time
/// (`arc4random_buf`).
///
/// Branches, tags and initial CSeqs must be unpredictable (a guessed tag lets a raw socket
/// forge an in-dialog request), so they come from the kernel's generator, as with
/// `SystemRandomNumberGenerator`; but that one makes a `getrandom` call per number, several
/// per request on the hot path. This serves the same kernel bytes from a shared buffer refilled
/// by one call per 512 numbers. Each number is handed out once.
public struct KernelRandom: RandomNumberGenerator, Sendable {
    public init() {}

    public mutating func next() -> UInt64 { Self.pool.withLock { $0.next() } }

    /// One number (for call sites that need no generator value).
    public static func next() -> UInt64 { pool.withLock { $0.next() } }

    static let pool = Mutex(Pool())

    struct Pool: ~Copyable {
        var words = [UInt64](repeating: 0, count: 512)
        var index = 512

        mutating func next() -> UInt64 {
            if index == words.count { refill() }
            defer {
                words[index] = 0
                index += 1
            }
            return words[index]
        }

        mutating func refill() {
            // One call for 4 KiB: glibc's arc4random_buf (2.36+) reads them with getrandom,
            // Darwin's from the kernel's generator as well.
            words.withUnsafeMutableBytes { bytes in arc4random_buf(bytes.baseAddress!, bytes.count) }
            index = 0
        }
    }
}

/// The low `digits` hex digits of `value`, lowercase and zero-padded: the form of the
/// branches, tags and tokens this package makes (`lowercaseHex(KernelRandom.next(), digits: 16)`).
public func lowercaseHex(_ value: UInt64, digits: Int) -> String {
    let table: StaticString = "0123456789abcdef"
    return String(unsafeUninitializedCapacity: digits) { out in
        var v = value
        for i in stride(from: digits - 1, through: 0, by: -1) {
            out[i] = table.utf8Start[Int(v & 0xF)]
            v >>= 4
        }
        return digits
    }
}
