import SIPCore

/// The Via branch this proxy puts on forwarded requests (RFC 3261 §16.6 step 8).
///
/// Layout: `z9hG4bK` + `P` + 16 hex digits of a loop hash + `.` + 8 hex digits that make the
/// branch unique per forwarded request and per fork. The loop hash depends on everything
/// that affects how the request is routed (RFC 3261 §16.6 step 8, as RFC 5393 clarifies): the
/// Request-URI as received, From and To tags, Call-ID, CSeq, Route, Proxy-Require and
/// Proxy-Authorization. A request that arrives carrying one of our Vias whose loop hash equals
/// the hash of the request as it arrives now has looped (§16.3 step 4); a different hash means
/// it is spiralling.
public enum BranchParameter {
    /// RFC 3261 §8.1.1.7 magic cookie.
    public static let magicCookie = "z9hG4bK"
    static let marker = "z9hG4bKP"

    /// The loop-detection hash of `request` as received (16 lowercase hex digits).
    public static func loopHash(of request: SIPRequest) -> String {
        var hasher = Hasher()
        hasher.combine(request.method.rawValue)
        hasher.combine(request.uri.description)
        for name in ["From", "To", "Call-ID", "CSeq"] {
            hasher.combine(request.headers.first(name) ?? "")
        }
        for name in ["Route", "Proxy-Require", "Proxy-Authorization"] {
            for value in request.headers[name] { hasher.combine(value) }
            hasher.combine(0x1F as UInt8)
        }
        return lowercaseHex(UInt64(bitPattern: Int64(hasher.finalize())), digits: 16)
    }

    /// A branch for one fork of a forwarded request: `seed` distinguishes requests with equal
    /// loop hashes (the upstream Via branch), `fork` the branches of one request.
    public static func make(loopHash: String, seed: String, fork: Int) -> String {
        var hasher = Hasher()
        hasher.combine(seed)
        hasher.combine(fork)
        let unique = lowercaseHex(UInt64(bitPattern: Int64(hasher.finalize())), digits: 8)
        return marker + loopHash + "." + unique
    }

    /// The loop hash inside one of our branches, nil when `branch` is not ours.
    public static func loopHash(inBranch branch: String) -> Substring? {
        guard branch.hasPrefix(marker) else { return nil }
        let rest = branch.dropFirst(marker.count)
        guard let dot = rest.firstIndex(of: "."), rest.distance(from: rest.startIndex, to: dot) == 16 else {
            return nil
        }
        return rest[..<dot]
    }
}
