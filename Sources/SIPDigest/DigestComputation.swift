/// The digest computations both sides share (RFC 2617 §3.2.2.1, RFC 7616 §3.4.1, RFC 3261
/// §22.4, RFC 8760): the server checks an answer with them, the client writes one.
public enum DigestComputation {
    /// The expected `response` parameter, lower-case hex (RFC 7616 §3.4.1 with qop=auth;
    /// RFC 3261 §22.4): H(HA1 ":" nonce ":" nc ":" cnonce ":" "auth" ":" H(method ":" uri)),
    /// with HA1 = H(HA1 ":" nonce ":" cnonce) for the `-sess` algorithms (RFC 7616 §3.4.2).
    public static func response(ha1: [UInt8], algorithm: DigestAlgorithm, method: String, uri: String, nonce: String,
                                nc: String, cnonce: String) -> [UInt8] {
        let colon = UInt8(ascii: ":")
        var a1 = Hex.encode(ha1)
        if algorithm.isSession {
            a1 = algorithm.hexHash(a1 + [colon] + Array(nonce.utf8) + [colon] + Array(cnonce.utf8))
        }
        let ha2 = algorithm.hexHash(Array(method.utf8) + [colon] + Array(uri.utf8))
        var input = a1
        input.reserveCapacity(a1.count + nonce.utf8.count + cnonce.utf8.count + ha2.count + 20)
        input.append(colon)
        input += nonce.utf8
        input.append(colon)
        input += nc.utf8
        input.append(colon)
        input += cnonce.utf8
        input += Array(":auth:".utf8)
        input += ha2
        return algorithm.hexHash(input)
    }

    /// The RFC 2069 form (RFC 2617 §3.2.2.1 when qop is absent): H(HA1 ":" nonce ":" H(method ":" uri)).
    public static func rfc2069Response(ha1: [UInt8], algorithm: DigestAlgorithm, method: String, uri: String,
                                       nonce: String) -> [UInt8] {
        let colon = UInt8(ascii: ":")
        let ha2 = algorithm.hexHash(Array(method.utf8) + [colon] + Array(uri.utf8))
        var input = Hex.encode(ha1)
        input.append(colon)
        input += nonce.utf8
        input.append(colon)
        input += ha2
        return algorithm.hexHash(input)
    }
}
