import SIPCore
import Registrar
import Store

/// The location service over the store's in-memory tables (RFC 3261 §10, §16.5): bindings
/// from the `LocationTable`, users from the `UserDirectory`. Never reads SQLite on a lookup.
public struct StoreLocationService: LocationService {
    public let directory: UserDirectory
    public let table: LocationTable

    public init(directory: UserDirectory, table: LocationTable) {
        self.directory = directory
        self.table = table
    }

    public func lookup(user: String, domain: String) async -> LocationResult {
        guard let aor = AOR.normalize("\(user)@\(domain)") else { return .unknownUser }
        let bindings = await table.lookup(aor)
        guard let record = await directory.user(aor), record.enabled else { return .unknownUser }
        if bindings.isEmpty { return .noBindings }
        let targets = bindings.compactMap { binding -> ForwardTarget? in
            guard let uri = URI(binding.contact) else { return nil }
            return ForwardTarget(uri: uri, path: binding.path, flowID: binding.flow.flatMap(Self.flowID),
                                 q: binding.q)
        }
        return targets.isEmpty ? .noBindings : .targets(targets)
    }

    /// The transport's flow handle from the text the registrar stored: the number itself,
    /// or the digits after a `#` (`tcp:192.0.2.1:5060#17`).
    static func flowID(_ text: String) -> UInt64? {
        if let id = UInt64(text) { return id }
        guard let hash = text.lastIndex(of: "#") else { return nil }
        return UInt64(text[text.index(after: hash)...])
    }
}

/// The registrar behind the policy's `local-server` step (RFC 3261 §10.3): it authenticates
/// REGISTER itself (401) when authentication is on.
public struct RegistrarAdapter: RegistrarService {
    public let registrar: Registrar
    public let authenticator: DigestAuthenticator?

    public init(registrar: Registrar, authenticator: DigestAuthenticator?) {
        self.registrar = registrar
        self.authenticator = authenticator
    }

    public func register(_ request: SIPRequest, source: RequestSource) async -> SIPResponse {
        let host = source.host.utf8.contains(UInt8(ascii: ":")) ? "[\(source.host)]" : source.host
        let context = RegistrationContext(transport: source.transport.viaToken, source: "\(host):\(source.port)",
                                          flow: source.flowID.map { String($0) })
        return await registrar.handle(request, context: context, authenticator: authenticator, source: source.host)
    }
}

/// Digest authentication of non-REGISTER requests (RFC 3261 §22.3: 407) by the registrar's
/// authenticator, which also checks that the user owns the From AOR.
public struct DigestRequestAuthenticator: RequestAuthenticator {
    public let authenticator: DigestAuthenticator

    public init(_ authenticator: DigestAuthenticator) { self.authenticator = authenticator }

    public func authenticate(_ request: SIPRequest) async -> AuthenticationOutcome {
        await authenticate(request, source: nil)
    }

    /// As ``authenticate(_:)``, with the request's source IP address for the authenticator's
    /// failed-attempt throttling.
    public func authenticate(_ request: SIPRequest, source: String?) async -> AuthenticationOutcome {
        switch await authenticator.authenticate(request, source: source) {
        case .authenticated(let user): return .authenticated(aor: user.aor)
        case .respond(let response): return .answer(response)
        }
    }
}
