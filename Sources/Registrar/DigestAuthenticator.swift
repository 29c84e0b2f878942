import SIPDigest
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
/// each with `qop="auth"`; by default MD5 alone, as Kamailio does, because some deployed
/// clients (libre/baresip 1.0) give up on a challenge list that holds an algorithm they lack.
/// Nonces are stateless (``NonceAuthority``); the highest nonce-count per nonce is remembered
/// to refuse replays (``NonceCountTracker``).
///
/// Answers are accepted in both forms (``DigestAnswer``): RFC 2617 §3.2.2 with qop=auth,
/// and the RFC 2069 form without qop, cnonce or nc (Pidgin's SIMPLE sends it), whose nonce is
/// then good for that one request (RFC 2617 §4.3 "limited use nonce values").
///
/// The answer never tells whether a user exists: an unknown username and a wrong password
/// both get a fresh challenge, and both count as a failure for ``AuthenticationThrottle``,
/// which refuses (403) a source address, or a user from one, after repeated failures.
public final class DigestAuthenticator: Sendable {
    public struct Configuration: Sendable {
        /// The domains whose users this server authenticates; realm = the user's domain.
        public var domains: Set<String>
        /// Offered algorithms, most preferred first (RFC 8760 §2.4). MD5 alone by default:
        /// sipp 3.6 answers only MD5, and libre (baresip 1.0) fails a challenge list with
        /// SHA-256 in it ("Function not implemented"). `[.sha256, .md5]` offers RFC 8760.
        public var algorithms: [DigestAlgorithm] = [.md5]
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
        /// Accept RFC 2069-style answers (no qop): each nonce then serves one request.
        public var acceptRFC2069 = true
        /// Failed-authentication throttling per source address and per (user, source).
        public var throttling = AuthenticationThrottle.Configuration()

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
    let throttle: AuthenticationThrottle

    public init(directory: UserDirectory, configuration: Configuration, clock: StoreClock = .system,
                logger: Logger = Logger(label: "sip.auth")) {
        self.directory = directory
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        nonces = NonceAuthority(secret: configuration.secret)
        counts = NonceCountTracker(lifetime: configuration.nonceLifetime, capacity: configuration.maxTrackedNonces,
                                   now: clock.now())
        throttle = AuthenticationThrottle(configuration: configuration.throttling)
    }

    /// Authenticates `request` (RFC 3261 §22.2/§22.3): the From address-of-record must be one
    /// of our domains' users and the credentials must prove its password.
    /// Synchronous: the directory is read from memory (run to completion on the event loop).
    /// - Parameter source: the IP address the request came from; failures are throttled per
    ///   source and per (user, source) when it is given.
    public func authenticate(_ request: SIPRequest, source: String? = nil) -> Outcome {
        let isRegister = request.method == .register
        guard let from = request.from, let fromURI = from.uri.sipURI, let fromUser = fromURI.user,
              let aor = AOR.normalize("\(fromUser)@\(fromURI.host)")
        else { return .respond(SIPResponse(responding: request, statusCode: 403, reasonPhrase: "Forbidden (From is not a user of ours)")) }
        let realm = String(fromURI.host.lowercased())
        guard configuration.domains.contains(realm) else {
            return .respond(SIPResponse(responding: request, statusCode: 403, reasonPhrase: "Forbidden (not our domain)"))
        }
        let now = clock.now()
        let headerName = isRegister ? "Authorization" : "Proxy-Authorization"
        guard let credentials = request.headers[headerName].lazy.compactMap(DigestResponse.init(parsing:))
            .first(where: { $0.realm.caseInsensitiveEquals(realm) })
        else {
            if let source, case .throttled = throttle.check(source: source, user: nil, now: now) { return .respond(throttled(request)) }
            return .respond(challenge(request, realm: realm, stale: false))
        }
        let username = credentials.username
        let userKey = (username.utf8.contains(UInt8(ascii: "@")) ? AOR.normalize(username) : AOR.normalize("\(username)@\(realm)"))
        if let source, case .throttled = throttle.check(source: source, user: userKey ?? username, now: now) {
            return .respond(throttled(request))
        }
        guard let algorithm = DigestAlgorithm(token: credentials.algorithm),
              let answer = DigestAnswer(credentials, algorithm: algorithm, acceptRFC2069: configuration.acceptRFC2069),
              let nonceID = nonces.verify(credentials.nonce, realm: realm)
        else { return .respond(challenge(request, realm: realm, stale: false)) }
        // Checked before the user is looked up, so the answer is the same whether it exists.
        if configuration.checkDigestURI, credentials.uri != request.uri.description {
            return .respond(SIPResponse(responding: request, statusCode: 400, reasonPhrase: "Bad Request (digest uri mismatch)"))
        }

        let found: UserRecord? = if let userKey { directory.cachedUser(userKey) } else { nil }
        // An unknown user is answered as a wrong password is (same work, same challenge).
        let user = found.flatMap { $0.domain == realm ? $0 : nil }
        let ha1 = user.map { algorithm.usesSHA256 ? $0.ha1SHA256 : $0.ha1MD5 } ?? Self.unknownUserHA1(algorithm)
        let expected = answer.expectedResponse(ha1: ha1, algorithm: algorithm, method: request.method.rawValue,
                                               uri: credentials.uri, nonce: credentials.nonce)
        let matches = constantTimeEquals(expected, Array(credentials.response.lowercased().utf8))
        guard let user, matches else {
            logger.debug("digest authentication failed", metadata: ["sip.aor": "\(userKey ?? username)"])
            recordFailure(source: source, user: userKey ?? username, now: now)
            return .respond(challenge(request, realm: realm, stale: false))
        }
        // The password is right. Stale nonce: tell the client to retry with a fresh one.
        if now - Int64(nonceID.timestamp) >= configuration.nonceLifetime || Int64(nonceID.timestamp) > now + 60 {
            return .respond(challenge(request, realm: realm, stale: true))
        }
        let verdict = switch answer {
        case .qopAuth(let nc, _, _): counts.check(nonceID, nc: nc, now: now)
        case .rfc2069: counts.checkOnce(nonceID, now: now)
        }
        switch verdict {
        case .fresh: break
        case .untrackable: return .respond(challenge(request, realm: realm, stale: true))
        case .replay:
            logger.debug("digest nonce reuse refused", metadata: ["sip.aor": "\(user.aor)", "sip.nc": "\(credentials.nonceCount ?? "-")"])
            return .respond(challenge(request, realm: realm, stale: false))
        }
        if let source { throttle.recordSuccess(source: source, user: user.aor) }
        guard user.enabled else {
            return .respond(SIPResponse(responding: request, statusCode: 403, reasonPhrase: "Forbidden (user disabled)"))
        }
        // §22.3 / issue 4: the authenticated user must own the From address-of-record.
        guard user.aor == aor else {
            return .respond(SIPResponse(responding: request, statusCode: 403, reasonPhrase: "Forbidden (From is not the authenticated user)"))
        }
        return .authenticated(user)
    }

    /// Counts a failure and logs (notice) when it starts a cooling-off period.
    func recordFailure(source: String?, user: String, now: Int64) {
        guard let source else { return }
        guard case .throttled(let perSource, let until) = throttle.recordFailure(source: source, user: user, now: now) else { return }
        logger.notice("digest authentication throttled: too many failed attempts",
                      metadata: ["connection.peer": "\(source)", "sip.aor": "\(user)",
                                 "auth.scope": "\(perSource ? "source" : "user+source")",
                                 "auth.cooling_off_s": "\(until - now)"])
    }

    /// 403 for a source (or user from it) that is cooling off after repeated failures.
    func throttled(_ request: SIPRequest) -> SIPResponse {
        SIPResponse(responding: request, statusCode: 403, reasonPhrase: "Forbidden (too many failed attempts)",
                    toTag: Registrar.localTag(for: request))
    }

    /// A stand-in HA1 for unknown users, so that their answer is computed like any other.
    static func unknownUserHA1(_ algorithm: DigestAlgorithm) -> [UInt8] {
        [UInt8](repeating: 0, count: algorithm.usesSHA256 ? 32 : 16)
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
}
