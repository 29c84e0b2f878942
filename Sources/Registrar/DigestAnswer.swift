import SIPDigest

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
    /// The expected `response` parameter with qop=auth (``DigestComputation/response(ha1:algorithm:method:uri:nonce:nc:cnonce:)``).
    static func response(ha1: [UInt8], algorithm: DigestAlgorithm, method: String, uri: String, nonce: String,
                         nc: String, cnonce: String) -> [UInt8] {
        DigestComputation.response(ha1: ha1, algorithm: algorithm, method: method, uri: uri, nonce: nonce, nc: nc, cnonce: cnonce)
    }

    /// The RFC 2069 form (``DigestComputation/rfc2069Response(ha1:algorithm:method:uri:nonce:)``).
    static func rfc2069Response(ha1: [UInt8], algorithm: DigestAlgorithm, method: String, uri: String,
                                nonce: String) -> [UInt8] {
        DigestComputation.rfc2069Response(ha1: ha1, algorithm: algorithm, method: method, uri: uri, nonce: nonce)
    }
}
