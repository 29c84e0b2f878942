/// The client side of digest (RFC 3261 §22.2, RFC 7616 §3.4, RFC 8760): the credentials a
/// user agent sends in answer to a 401/407 challenge. Used by the demo watcher, the
/// `SIPUserAgent` library and anything else in the package that acts as a UAC.
public enum DigestClient {
    /// The `Authorization` / `Proxy-Authorization` value answering `challenge` (the value
    /// of a `WWW-Authenticate` / `Proxy-Authenticate` header), with `qop=auth` when the
    /// challenge offers it (else the RFC 2069 form). Nil for a challenge that is not Digest,
    /// lacks realm or nonce, or names an algorithm we do not know.
    public static func answer(challenge: String, username: String, password: String, method: String, uri: String,
                              nonceCount: UInt32 = 1, cnonce: String? = nil) -> String? {
        guard let params = DigestResponse.parameters(challenge) else { return nil }
        func value(_ name: String) -> String? { params.first { $0.0.caseInsensitiveEquals(name) }?.1 }
        guard let realm = value("realm"), let nonce = value("nonce"),
              let algorithm = DigestAlgorithm(token: value("algorithm")) else { return nil }
        let base = DigestHA1.compute(user: username, realm: realm, password: password)
        let ha1 = algorithm.usesSHA256 ? base.sha256 : base.md5
        let offersAuth = value("qop")?.split(separator: ",").contains {
            String($0.filter { $0 != " " && $0 != "\t" }).caseInsensitiveEquals("auth")
        } ?? false
        var text = "Digest username=\"\(username)\", realm=\"\(realm)\", nonce=\"\(nonce)\", uri=\"\(uri)\""
        if offersAuth {
            let nc = String(nonceCount, radix: 16)
            let ncText = String(repeating: "0", count: max(0, 8 - nc.count)) + nc
            let cnonce = cnonce ?? String(UInt64.random(in: 1...UInt64.max), radix: 16)
            let response = DigestComputation.response(ha1: ha1, algorithm: algorithm, method: method, uri: uri,
                                                        nonce: nonce, nc: ncText, cnonce: cnonce)
            text += ", response=\"\(String(decoding: response, as: UTF8.self))\", qop=auth, nc=\(ncText), cnonce=\"\(cnonce)\""
        } else {
            let response = DigestComputation.rfc2069Response(ha1: ha1, algorithm: algorithm, method: method, uri: uri,
                                                               nonce: nonce)
            text += ", response=\"\(String(decoding: response, as: UTF8.self))\""
        }
        text += ", algorithm=\(algorithm.rawValue)"
        if let opaque = value("opaque") { text += ", opaque=\"\(opaque)\"" }
        return text
    }
}
