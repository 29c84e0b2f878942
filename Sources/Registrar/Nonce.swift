import Crypto
import SIPCore
import SIPDigest
import Synchronization

/// Stateless nonces (RFC 7616 §3.3 "nonce ... time-stamp H(time-stamp ":" ETag ":" secret)"):
/// `hex(timestamp ‖ salt ‖ HMAC-SHA256(secret, timestamp ‖ salt ‖ realm)[0..<16])`, 64 hex
/// digits. Verifying needs no table: the MAC proves this server issued it for that realm,
/// the timestamp tells whether it is stale.
struct NonceAuthority: Sendable {
    /// HMAC already keyed: copying it skips the key schedule on every nonce.
    let keyed: HMAC<SHA256>

    init(secret: [UInt8]?) {
        keyed = HMAC<SHA256>(key: secret.map { SymmetricKey(data: $0) } ?? SymmetricKey(size: .bits256))
    }

    /// The identity of a nonce this server issued: when, and its random salt.
    struct ID: Hashable, Sendable {
        var timestamp: UInt64
        var salt: UInt64
    }

    func issue(realm: String, now: Int64) -> String {
        let id = ID(timestamp: UInt64(max(0, now)), salt: KernelRandom.next())
        var bytes = bytes(of: id)
        mac(id, realm: realm).withUnsafeBytes { bytes.append(contentsOf: $0.prefix(16)) }
        return Hex.string(bytes)
    }

    /// The nonce's identity when this server issued it for `realm`; nil when forged,
    /// malformed or for another realm.
    func verify(_ nonce: String, realm: String) -> ID? {
        guard nonce.utf8.count == 64, let bytes = Hex.decode(nonce) else { return nil }
        var timestamp: UInt64 = 0
        var salt: UInt64 = 0
        for i in 0..<8 {
            timestamp = timestamp << 8 | UInt64(bytes[i])
            salt = salt << 8 | UInt64(bytes[8 + i])
        }
        let id = ID(timestamp: timestamp, salt: salt)
        let valid = mac(id, realm: realm).withUnsafeBytes { expected in
            bytes.withUnsafeBytes { given in
                constantTimeEquals(UnsafeRawBufferPointer(rebasing: given[16..<32]), UnsafeRawBufferPointer(rebasing: expected[0..<16]))
            }
        }
        return valid ? id : nil
    }

    /// `timestamp ‖ salt`, big-endian.
    private func bytes(of id: ID) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(32)
        withUnsafeBytes(of: id.timestamp.bigEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: id.salt.bigEndian) { out.append(contentsOf: $0) }
        return out
    }

    /// HMAC-SHA256(secret, timestamp ‖ salt ‖ realm), fed in one update.
    private func mac(_ id: ID, realm: String) -> HashedAuthenticationCode<SHA256> {
        var input = bytes(of: id)
        input.append(contentsOf: realm.utf8)
        var hmac = keyed
        hmac.update(data: input)
        return hmac.finalize()
    }
}

/// Nonce-count replay protection (RFC 7616 §3.4 "nc ... allows the server to detect request
/// replays"): remembers the highest `nc` seen per nonce, in bounded memory. A nonce used
/// without a count (RFC 2069 form) is recorded as spent.
///
/// Entries live in two generations rotated every nonce lifetime, so an entry outlives its
/// nonce's validity. When a generation fills up (`capacity`), it is rotated early and every
/// nonce issued before that moment that is no longer tracked counts as stale: the client
/// is challenged afresh rather than a replay slipping through.
final class NonceCountTracker: Sendable {
    private struct State {
        var current: [NonceAuthority.ID: UInt32] = [:]
        var previous: [NonceAuthority.ID: UInt32] = [:]
        var rotatedAt: Int64
        /// Untracked nonces issued before this are treated as stale.
        var trackedSince: Int64 = .min
    }

    enum Verdict: Equatable { case fresh, replay, untrackable }

    private let state: Mutex<State>
    let lifetime: Int64
    let capacity: Int

    init(lifetime: Int64, capacity: Int, now: Int64) {
        self.lifetime = lifetime
        self.capacity = max(1, capacity)
        state = Mutex(State(rotatedAt: now))
    }

    /// Records `nc` for the nonce when it is higher than any seen before.
    func check(_ id: NonceAuthority.ID, nc: UInt32, now: Int64) -> Verdict {
        check(id, nc: nc, now: now, requireUnseen: false)
    }

    private func check(_ id: NonceAuthority.ID, nc: UInt32, now: Int64, requireUnseen: Bool) -> Verdict {
        state.withLock { s in
            if now - s.rotatedAt >= lifetime {
                s.previous = s.current
                s.current = [:]
                s.rotatedAt = now
            }
            let seen = max(s.current[id] ?? 0, s.previous[id] ?? 0)
            if seen == 0, Int64(id.timestamp) < s.trackedSince { return .untrackable }
            guard nc > seen, !requireUnseen || seen == 0 else { return .replay }
            if s.current[id] == nil, s.current.count >= capacity {
                s.previous = s.current
                s.current = [:]
                s.rotatedAt = now
                s.trackedSince = now
            }
            s.current[id] = nc
            return .fresh
        }
    }

    /// A nonce answered without a count (RFC 2069 form, RFC 2617 §4.3 "limited use nonce
    /// values"): fresh only the first time it is seen; it is then spent for good.
    func checkOnce(_ id: NonceAuthority.ID, now: Int64) -> Verdict {
        check(id, nc: .max, now: now, requireUnseen: true)
    }

    var trackedCount: Int { state.withLock { $0.current.count + $0.previous.count } }
}
