import Registrar
import SIPCore
import SIPTransaction
import SIPTransport
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

    public func lookup(user: String, domain: String) -> LocationResult {
        guard let aor = AOR.normalize("\(user)@\(domain)") else { return .unknownUser }
        let bindings = table.lookup(aor)
        guard let record = directory.cachedUser(aor), record.enabled else { return .unknownUser }
        if bindings.isEmpty { return .noBindings }
        let targets = bindings.compactMap { binding -> ForwardTarget? in
            guard let uri = URI(binding.contact) else { return nil }
            return ForwardTarget(uri: uri, path: binding.path, flowID: binding.flow.flatMap(Self.flowID),
                                 flowAddress: binding.flow.flatMap(Self.flowAddress), q: binding.q)
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

    /// The flow's remote address from a `tcp:HOST:PORT#id` token (SIPTransport's
    /// `SIPEndpoint(flowToken:)`); nil for a bare id (a binding stored before tokens, whose
    /// flow must then lead to the contact itself).
    static func flowAddress(_ text: String) -> SIPHostPort? {
        if let fast = flowAddressFast(text) { return fast }
        guard let endpoint = try? SIPEndpoint(flowToken: text), let ip = endpoint.address.ipAddress,
              let port = endpoint.address.port else { return nil }
        return SIPHostPort(host: ip, port: port)
    }

    /// The common case of ``flowAddress(_:)`` without building an endpoint (every lookup of a
    /// binding reads its token): `tcp:IPv4:PORT#id` or `tls:[IPv6]:PORT#id`, the literal IP as
    /// `flowToken` wrote it. Nil for anything else, which then takes the full parse.
    static func flowAddressFast(_ text: String) -> SIPHostPort? {
        let utf8 = text.utf8
        guard let colon = utf8.firstIndex(of: UInt8(ascii: ":")), let hash = utf8.lastIndex(of: UInt8(ascii: "#")),
              colon < hash else { return nil }
        let hostPort = utf8[utf8.index(after: colon)..<hash]
        guard let last = hostPort.lastIndex(of: UInt8(ascii: ":")),
              let port = Int(Substring(hostPort[hostPort.index(after: last)...])), (1...65535).contains(port) else { return nil }
        var host = hostPort[..<last]
        if host.first == UInt8(ascii: "["), host.last == UInt8(ascii: "]") {
            host = host.dropFirst().dropLast()
            guard host.contains(UInt8(ascii: ":")), host.allSatisfy({ $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") || isHex($0) })
            else { return nil }
        } else {
            guard host.count >= 7, host.allSatisfy({ $0 == UInt8(ascii: ".") || ($0 >= 48 && $0 <= 57) }) else { return nil }
        }
        return SIPHostPort(host: String(Substring(host)), port: port)
    }

    private static func isHex(_ byte: UInt8) -> Bool {
        (byte >= 48 && byte <= 57) || (byte | 0x20 >= 97 && byte | 0x20 <= 102)
    }
}

/// The registrar behind the policy's `local-server` step (RFC 3261 §10.3), as a local
/// service: it authenticates REGISTER itself (401) and plans the change on the event loop;
/// a request that changes bindings waits for its group commit (one task per batch, not per
/// request), and the 200 is sent once the bindings are durable.
public struct RegistrarAdapter: RegistrarService {
    public let name = "registrar"
    public let registrar: Registrar
    public let authenticator: DigestAuthenticator?
    /// Told the AOR of every successful REGISTER once its bindings are durable (the presence
    /// agent: signing in or out changes what watchers see).
    public let bindingsChanged: (@Sendable (String) -> Void)?

    public init(registrar: Registrar, authenticator: DigestAuthenticator?,
                bindingsChanged: (@Sendable (String) -> Void)? = nil) {
        self.registrar = registrar
        self.authenticator = authenticator
        self.bindingsChanged = bindingsChanged
    }

    public func serve(_ transaction: ServerTransaction, context: RoutingContext) {
        let request = transaction.request
        var aor: String?
        if context.trustedPeer != nil, let asserted = context.authenticatedUser {
            aor = asserted  // a front-end of the trust domain authenticated it (RFC 3325)
        } else if let authenticator {
            switch authenticator.authenticate(request, source: context.source.host) {
            case .respond(let response):
                try? ProxyCore.endsAtOnce(response, to: request.method) ? transaction.respondAndEnd(response) : transaction.respond(response)
                return
            case .authenticated(let user):
                aor = user.aor
            }
        }
        let observer = bindingsChanged
        registrar.register(request, context: Self.registrationContext(context.source), authenticatedAOR: aor) { response in
            try? transaction.respond(response)
            if let observer, response.statusCode == 200, request.headers.first("Contact") != nil,
               let to = request.to?.uri.sipURI, let user = to.user, let aor = AOR.normalize("\(user)@\(to.host)") {
                observer(aor)
            }
        }
    }

    /// The whole answer to a REGISTER from `source` (tests, tools).
    public func register(_ request: SIPRequest, source: RequestSource) async -> SIPResponse {
        await registrar.handle(request, context: Self.registrationContext(source), authenticator: authenticator,
                               source: source.host)
    }

    static func registrationContext(_ source: RequestSource) -> RegistrationContext {
        let host = source.host.utf8.contains(UInt8(ascii: ":")) ? "[\(source.host)]" : source.host
        // The flow as `tcp:HOST:PORT#id` (SIPEndpoint.flowToken's form): its id with the
        // address it comes from, so a stale id can never reach another peer.
        return RegistrationContext(transport: source.transport.viaToken, source: "\(host):\(source.port)",
                                   flow: source.flowID.map { "\(source.transport.rawValue):\(host):\(source.port)#\($0)" })
    }
}

/// Digest authentication of non-REGISTER requests (RFC 3261 §22.3: 407) by the registrar's
/// authenticator, which also checks that the user owns the From AOR.
public struct DigestRequestAuthenticator: RequestAuthenticator {
    public let authenticator: DigestAuthenticator

    public init(_ authenticator: DigestAuthenticator) { self.authenticator = authenticator }

    public func authenticate(_ request: SIPRequest, source: RequestSource) -> AuthenticationOutcome {
        switch authenticator.authenticate(request, source: source.host) {
        case .authenticated(let user): return .authenticated(aor: user.aor)
        case .respond(let response): return .answer(response)
        }
    }
}
