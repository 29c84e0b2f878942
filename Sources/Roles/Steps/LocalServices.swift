import SIPCore

/// What a location lookup found for an AOR (RFC 3261 §10, §16.5).
public enum LocationResult: Hashable, Sendable {
    /// No such user in the directory, or the user is disabled (answered as `noBindings` is).
    case unknownUser
    /// A known user with no current binding (480).
    case noBindings
    /// The current bindings as forwarding targets.
    case targets([ForwardTarget])
}

/// The location service a policy asks for the targets of an AOR (RFC 3261 §16.5).
public protocol LocationService: Sendable {
    /// `user` as written in the URI, `domain` lowercased.
    func lookup(user: String, domain: String) -> LocationResult
}

/// The registrar a policy hands REGISTER requests for its domains (RFC 3261 §10.3): a
/// ``LocalService`` that authenticates them itself (401) and answers once the bindings are
/// durable (group commit).
public protocol RegistrarService: LocalService {}

/// The outcome of checking a request's credentials (RFC 3261 §22.3).
public enum AuthenticationOutcome: Hashable, Sendable {
    /// The originator proved it is this AOR (`user@domain`).
    case authenticated(aor: String)
    /// Answer with this response: a 407 challenge, or a refusal the authenticator made
    /// (403 disabled user, 400 bad credentials).
    case answer(SIPResponse)
    /// Refuse with a status.
    case refused(StatusAnswer)
}

/// Digest authentication of requests other than REGISTER (RFC 3261 §22.3: 407).
public protocol RequestAuthenticator: Sendable {
    /// - Parameters:
    ///   - request: the request to check (its Proxy-Authorization, RFC 3261 §22.3).
    ///   - source: who sent it; its host keys the failed-attempt throttling.
    func authenticate(_ request: SIPRequest, source: RequestSource) -> AuthenticationOutcome
}

/// Fresh tags for responses this server makes itself (RFC 3261 §19.3: at least 32 bits).
public enum LocalTag {
    public static func make() -> String {
        lowercaseHex(KernelRandom.next(), digits: 16)
    }
}

/// RFC 3261 §11: the server's own answer to OPTIONS.
public enum OptionsResponder {
    /// Methods this server accepts (Allow).
    public static let allow = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, MESSAGE, SUBSCRIBE, NOTIFY, PUBLISH, REFER, INFO, UPDATE, PRACK"

    public static func response(to request: SIPRequest) -> SIPResponse {
        var response = SIPResponse(responding: request, statusCode: 200, toTag: LocalTag.make())
        response.headers.append("Allow", allow)
        response.headers.append("Accept", "application/sdp, text/plain")
        response.headers.append("Supported", "path")
        return response
    }
}
