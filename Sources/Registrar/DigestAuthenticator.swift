import Crypto
import Logging
import SIPCore
import Store

/// Digest authentication of users (RFC 3261 §22, RFC 8760, with RFC 7616's qop=auth):
/// challenges, verifies credentials against the HA1s held in memory by ``UserDirectory``, and
/// authorizes the authenticated user for the request's From address-of-record.
///
/// REGISTER is challenged with 401 and WWW-Authenticate (§22.2), every other request with
/// 407 and Proxy-Authenticate (§22.3). Each challenge carries one header per offered
/// algorithm, in ``Configuration/algorithms`` order (RFC 8760 §2.4: most preferred first),
/// each with `qop="auth"`. Nonces are stateless (``NonceAuthority``); the highest nonce-count per
/// nonce is remembered to refuse replays (``NonceCountTracker``).
public final class DigestAuthenticator: Sendable {
    public struct Configuration: Sendable {
        /// The domains whose users this server authenticates; realm = the user's domain.
        public var domains: Set<String>
        /// Offered algorithms, most preferred first (RFC 8760 §2.4). Note: sipp 3.6 answers
        /// only MD5 and fails on the first challenge when it is not MD5.
        public var algorithms: [DigestAlgorithm] = [.sha256, .md5]
        /// Seconds a nonce stays fresh; later it is answered with `stale=true` (RFC 7616 §3.3).
        public var nonceLifetime: Int64 = 300
        /// Nonces whose count is tracked per generation (two generations are kept).
        public var maxTrackedNonces = 200_000
        /// The server secret nonces are bound to; nil = random per process (nonces then do
        /// not survive a restart, clients are simply challenged again with stale=true).
        public var secret: [UInt8]?
        /// Require the `uri` parameter to equal the Request-URI text (RFC 2617 §3.2.2.5).
        /// Off by default: several clients (sipp among them) send the address they sent to.
        public var checkDigestURI = false

        public init(domains: Set<String>) { self.domains = Set(domains.map { $0.lowercased() }) }
    }

    /// What to do with the request.
    public enum Outcome: Sendable {
        /// The credentials are valid and the user owns the From AOR: go on.
        case authenticated(UserRecord)
        /// Answer with this response (401/407 challenge, 403 forbidden, 400 bad credentials).
        case respond(SIPResponse)
    }

    public let configuration: Configuration
    let directory: UserDirectory
    let clock: StoreClock
    let logger: Logger
    let nonces: NonceAuthority
    let counts: NonceCountTracker

    public init(directory: UserDirectory, configuration: Configuration, clock: StoreClock = .system,
                logger: Logger = Logger(label: "sip.auth")) {
        self.directory = directory
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        nonces = NonceAuthority(secret: configuration.secret)
        counts = NonceCountTracker(lifetime: configuration.nonceLifetime, capacity: configuration.maxTrackedNonces,
                                   now: clock.now())
    }

    /// Authenticates `request` (RFC 3261 §22.2/§22.3): the From address-of-record must be one
    /// of our domains' users and the credentials must prove its password.
    /// Synchronous: the directory is read from memory (run to completion on the event loop).
    public func authenticate(_ request: SIPRequest) -> Outcome {
        let isRegister = request.method == .register
        guard let from = request.from, let fromURI = from.uri.sipURI, let fromUser = fromURI.user,
              let aor = AOR.normalize("\(fromUser)@\(fromURI.host)")
        else { return .respond(SIPResponse(responding: request, statusCode: 403, reasonPhrase: "Forbidden (From is not a user of ours)")) }
        let realm = String(fromURI.host.lowercased())
        guard configuration.domains.contains(realm) else {
            return .respond(SIPResponse(responding: request, statusCode: 403, reasonPhrase: "Forbidden (not our domain)"))
        }
        let headerName = isRegister ? "Authorization" : "Proxy-Authorization"
        guard let credentials = request.headers[headerName].lazy.compactMap(DigestResponse.init(parsing:))
            .first(where: { $0.realm.caseInsensitiveEquals(realm) })
        else { return .respond(challenge(request, realm: realm, stale: false)) }

        let now = clock.now()
        guard let algorithm = DigestAlgorithm(token: credentials.algorithm),
              credentials.qop.map({ $0.caseInsensitiveEquals("auth") }) == true,
              let cnonce = credentials.cnonce, let ncText = credentials.nonceCount,
              ncText.utf8.count == 8, let nc = UInt32(ncText, radix: 16),
              let nonceID = nonces.verify(credentials.nonce, realm: realm)
        else { return .respond(challenge(request, realm: realm, stale: false)) }

        let username = credentials.username
        let userAOR = username.utf8.contains(UInt8(ascii: "@")) ? AOR.normalize(username) : AOR.normalize("\(username)@\(realm)")
        guard let userAOR, let user = directory.cachedUser(userAOR), user.domain == realm else {
            return .respond(challenge(request, realm: realm, stale: false))
        }
        if configuration.checkDigestURI, credentials.uri != request.uri.description {
            return .respond(SIPResponse(responding: request, statusCode: 400, reasonPhrase: "Bad Request (digest uri mismatch)"))
        }
        let ha1 = algorithm.usesSHA256 ? user.ha1SHA256 : user.ha1MD5
        let expected = Self.response(ha1: ha1, algorithm: algorithm, method: request.method.rawValue,
                                     uri: credentials.uri, nonce: credentials.nonce, nc: ncText, cnonce: cnonce)
        guard constantTimeEquals(expected, Array(credentials.response.lowercased().utf8)) else {
            logger.debug("digest mismatch", metadata: ["sip.aor": "\(userAOR)"])
            return .respond(challenge(request, realm: realm, stale: false))
        }
        // The password is right. Stale nonce: tell the client to retry with a fresh one.
        if now - Int64(nonceID.timestamp) >= configuration.nonceLifetime || Int64(nonceID.timestamp) > now + 60 {
            return .respond(challenge(request, realm: realm, stale: true))
        }
        switch counts.check(nonceID, nc: nc, now: now) {
        case .fresh: break
        case .untrackable: return .respond(challenge(request, realm: realm, stale: true))
        case .replay:
            logger.debug("digest nonce-count replay refused", metadata: ["sip.aor": "\(userAOR)", "sip.nc": "\(ncText)"])
            return .respond(challenge(request, realm: realm, stale: false))
        }
        guard user.enabled else {
            return .respond(SIPResponse(responding: request, statusCode: 403, reasonPhrase: "Forbidden (user disabled)"))
        }
        // §22.3 / issue 4: the authenticated user must own the From address-of-record.
        guard user.aor == aor else {
            return .respond(SIPResponse(responding: request, statusCode: 403, reasonPhrase: "Forbidden (From is not the authenticated user)"))
        }
        return .authenticated(user)
    }

    /// The 401 (REGISTER) or 407 (other methods) challenge: one header per offered algorithm,
    /// one fresh nonce shared by them.
    public func challenge(_ request: SIPRequest, realm: String, stale: Bool) -> SIPResponse {
        let isRegister = request.method == .register
        var response = SIPResponse(responding: request, statusCode: isRegister ? 401 : 407, toTag: Registrar.localTag(for: request))
        let nonce = nonces.issue(realm: realm, now: clock.now())
        let name = isRegister ? "WWW-Authenticate" : "Proxy-Authenticate"
        for algorithm in configuration.algorithms {
            response.headers.append(name, DigestChallengeValue(realm: realm, nonce: nonce, algorithm: algorithm, stale: stale).description)
        }
        return response
    }

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
}
