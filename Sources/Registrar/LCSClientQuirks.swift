import SIPCore

/// pidgin-sipe (1.25, in its LCS 2003/2005 mode) answers digest in its own way, seen on the
/// wire against this server (`Tests/EndToEndTests/SipeInteropTests.swift`):
/// - it understands only a `407 Proxy-Authenticate` challenge, on any request, REGISTER
///   included: a 401 `WWW-Authenticate: Digest` makes it give up ("Incompatible
///   authentication scheme chosen", it looks for NTLM/Kerberos there). Such a client's
///   REGISTER is therefore challenged with 407, and its `Proxy-Authorization` answer is read.
/// - it sends `uri="(null)"` in that answer *and hashes the literal text `(null)`* as the
///   digest-uri (HA2 = H(method ":(null)")), so the response cannot be checked against the
///   Request-URI: it is checked as sent, like every other client's (the server does not bind
///   the digest-uri to the Request-URI unless ``DigestAuthenticator/Configuration/checkDigestURI``
///   is on). Everything else is verified as for anyone: the password (HA1), the nonce (ours,
///   fresh), qop=auth with a strictly increasing nc per nonce, the method, and the From AOR.
///
/// Nobody else gets either allowance: `uri="(null)"` from a client that does not present
/// itself as sipe is refused (400), and a REGISTER from other clients is challenged with 401
/// and answered only through `Authorization` (RFC 3261 §22.2).
///
/// A client is taken for sipe when its request carries sipe's LCS signature: an
/// `ms-keep-alive` header (sent on every REGISTER), or a `User-Agent` naming `Sipe/`. These
/// can be imitated; what they unlock is only the challenge's form and the literal `(null)`
/// digest-uri, never a weaker proof of the password.
enum LCSClientQuirks {
    /// The digest-uri text pidgin-sipe sends (and hashes).
    static let nullURI = "(null)"

    /// True for a request from a client that behaves like pidgin-sipe.
    static func isLCSClient(_ request: SIPRequest) -> Bool {
        if request.headers.first("ms-keep-alive") != nil { return true }
        if let agent = request.headers.first("User-Agent"), agent.contains("Sipe/") { return true }
        return false
    }
}
