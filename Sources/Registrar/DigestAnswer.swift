/// The two forms of a digest answer a server accepts (RFC 2617 §3.2.2.1 `request-digest`).
enum DigestAnswer: Equatable, Sendable {
    /// `qop=auth` (RFC 2617 §3.2.2.1, RFC 7616 §3.4.1, RFC 3261 §22.4):
    /// H(HA1 ":" nonce ":" nc ":" cnonce ":" "auth" ":" HA2); `nc` counts the nonce's uses.
    case qopAuth(nc: UInt32, ncText: String, cnonce: String)
    /// No `qop` (RFC 2617 §3.2.2.1, "compatibility with RFC 2069"): H(HA1 ":" nonce ":" HA2),
    /// with neither cnonce nor a count, so the server lets each nonce serve one request.
    /// Pidgin/libpurple's SIMPLE answers this way, sometimes with a quoted `nc` it does not
    /// hash (ignored here).
    case rfc2069

    /// The form of `credentials`; nil when malformed (qop other than auth, qop without an
    /// 8-hex-digit nc or a cnonce, a cnonce without qop, a `-sess` algorithm without qop).
    init?(_ credentials: DigestResponse, algorithm: DigestAlgorithm, acceptRFC2069: Bool) {
        if let qop = credentials.qop {
            guard qop.caseInsensitiveEquals("auth"), let cnonce = credentials.cnonce,
                  let ncText = credentials.nonceCount, ncText.utf8.count == 8, let nc = UInt32(ncText, radix: 16)
            else { return nil }
            self = .qopAuth(nc: nc, ncText: ncText, cnonce: cnonce)
        } else {
            // RFC 2617 §3.2.2: cnonce "MUST NOT be specified" without qop; the -sess A1 needs it.
            guard acceptRFC2069, credentials.cnonce == nil, !algorithm.isSession else { return nil }
            self = .rfc2069
        }
    }

    /// The `response` this answer must carry, lower-case hex.
    func expectedResponse(ha1: [UInt8], algorithm: DigestAlgorithm, method: String, uri: String, nonce: String) -> [UInt8] {
        switch self {
        case .qopAuth(_, let ncText, let cnonce):
            DigestAuthenticator.response(ha1: ha1, algorithm: algorithm, method: method, uri: uri, nonce: nonce,
                                         nc: ncText, cnonce: cnonce)
        case .rfc2069:
            DigestAuthenticator.rfc2069Response(ha1: ha1, algorithm: algorithm, method: method, uri: uri, nonce: nonce)
        }
    }
}

extension DigestAuthenticator {
    /// The expected `response` parameter, lower-case hex (RFC 7616 §3.4.1 with qop=auth;
    /// RFC 3261 §22.4): H(HA1 ":" nonce ":" nc ":" cnonce ":" "auth" ":" H(method ":" uri)),
    /// with HA1 = H(HA1 ":" nonce ":" cnonce) for the `-sess` algorithms (RFC 7616 §3.4.2).
    static func response(ha1: [UInt8], algorithm: DigestAlgorithm, method: String, uri: String, nonce: String,
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
    static func rfc2069Response(ha1: [UInt8], algorithm: DigestAlgorithm, method: String, uri: String,
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
