import SIPDigest
import Logging
import SIPCore
import Store

/// Where a request came from, as the transport saw it.
public struct RegistrationContext: Sendable {
    /// `UDP`, `TCP`, `TLS`, ...
    public var transport: String
    /// The source address `host:port`.
    public var source: String
    /// The connection (flow) identity when the transport has one (RFC 5626 §5.2); stored with
    /// the binding so the proxy can reach the UA over the same connection.
    public var flow: String?

    public init(transport: String, source: String, flow: String? = nil) {
        self.transport = transport
        self.source = source
        self.flow = flow
    }
}

/// The registrar (RFC 3261 §10.3) and the location service it feeds (§10, §16.5).
///
/// ``handle(_:context:authenticator:)`` answers a REGISTER: digest authentication first when an
/// authenticator is given (`--auth off` = pass nil), then the §10.3 steps: To must be a SIP AOR
/// of one of our domains (400 / 404), the user must exist (404) and be enabled (403), the
/// authenticated user must be that AOR (403), `Contact: *` only alone with Expires 0 (400),
/// every expiration at least Min-Expires (423), Call-ID/CSeq ordering (500), at most
/// ``Configuration/maxBindingsPerAOR`` bindings (403); the 200 lists every current binding with
/// its `expires`. A store failure answers 500 with Retry-After and changes nothing.
public final class Registrar: Sendable {
    public struct Configuration: Sendable {
        /// The domains this registrar keeps bindings for (lower case).
        public var domains: Set<String>
        public var minExpires = 60
        public var maxExpires = 86_400
        /// When neither the Contact nor the request has an expiration (§10.2.1.1).
        public var defaultExpires = 3600
        public var maxBindingsPerAOR = 10
        /// Retry-After seconds on a 500 caused by a store failure.
        public var retryAfter = 5
        /// Option tags understood in Require (§10.3 step 2; RFC 3327 path, RFC 5626 outbound).
        public var supportedExtensions: Set<String> = ["path", "outbound"]
        /// LCS 2003 clients (Pidgin's SIMPLE, pidgin-sipe): when set, every 200 carries this
        /// `Allow-Events` value (Pidgin subscribes to its roaming contacts only when it names
        /// `vnd-microsoft-provisioning`) and an `Expires` header (sipe's re-registration
        /// interval: the longest remaining binding of the request's Contacts, 0 after a removal).
        public var allowEvents: String?

        public init(domains: Set<String>) { self.domains = Set(domains.map { $0.lowercased() }) }
    }

    public let configuration: Configuration
    public let location: LocationTable
    public let directory: UserDirectory
    let logger: Logger

    public init(location: LocationTable, directory: UserDirectory, configuration: Configuration,
                logger: Logger = Logger(label: "sip.registrar")) {
        self.location = location
        self.directory = directory
        self.configuration = configuration
        self.logger = logger
    }

    // MARK: - Location service (for the proxy)

    /// The current bindings of an address-of-record (`user@domain`), highest q first, from
    /// memory (RFC 3261 §16.5).
    public func lookup(_ aor: String) async -> [Binding] {
        await location.lookup(AOR.normalize(aor) ?? aor)
    }

    /// The current bindings of the AOR a Request-URI names (user part and host).
    public func lookup(_ uri: SIPURI) async -> [Binding] {
        guard let user = uri.user, let aor = AOR.normalize("\(user)@\(uri.host)") else { return [] }
        return await location.lookup(aor)
    }

    // MARK: - REGISTER

    /// Answers a REGISTER: authenticates it with `authenticator` when given, then ``register(_:context:authenticatedAOR:)``.
    /// - Parameter source: the IP address the request came from, for the authenticator's
    ///   failed-attempt throttling (``AuthenticationThrottle``); nil: not throttled.
    public func handle(_ request: SIPRequest, context: RegistrationContext, authenticator: DigestAuthenticator?,
                       source: String? = nil) async -> SIPResponse {
        guard request.method == .register else {
            var response = SIPResponse(responding: request, statusCode: 405, toTag: Self.localTag(for: request))
            response.headers.append("Allow", "REGISTER")
            return response
        }
        var authenticated: String?
        if let authenticator {
            switch authenticator.authenticate(request, source: source) {
            case .respond(let response): return response
            case .authenticated(let user): authenticated = user.aor
            }
        }
        return await register(request, context: context, authenticatedAOR: authenticated)
    }

    /// RFC 3261 §10.3 steps 2 and 5-8, run to completion on the caller's thread up to the
    /// group commit; `completion` gets the answer once the bindings are durable (at once for
    /// a refusal, or when nothing changed). A user not yet in the directory's memory is looked
    /// up in the store first.
    public func register(_ request: SIPRequest, context: RegistrationContext, authenticatedAOR: String?,
                         completion: @escaping @Sendable (SIPResponse) -> Void) {
        let plan: RegistrationPlan
        do throws(RegistrarError) {
            plan = try makePlan(for: request, context: context, authenticatedAOR: authenticatedAOR)
        } catch {
            completion(errorResponse(error, to: request))
            return
        }
        guard let user = directory.cachedUser(plan.aor) else {
            Task { completion(await self.register(request, context: context, authenticatedAOR: authenticatedAOR)) }
            return
        }
        guard user.enabled else {
            completion(errorResponse(RegistrarError(.forbidden, status: 403, "Forbidden (user disabled)"), to: request))
            return
        }
        location.update(aor: plan.aor, { bindings, now in (plan.apply(to: &bindings, now: now), now) }) { [self] outcome in
            switch outcome {
            case .success(let (result, now)):
                switch result {
                case .success(let bindings): completion(ok(request, bindings: bindings, now: now, plan: plan))
                case .failure(let error): completion(errorResponse(error, to: request))
                }
            case .failure(let error):
                completion(errorResponse(storeError(error), to: request))
            }
        }
    }

    func errorResponse(_ error: RegistrarError, to request: SIPRequest) -> SIPResponse {
        var response = SIPResponse(responding: request, statusCode: error.status, reasonPhrase: error.reason,
                                   toTag: Self.localTag(for: request))
        for (name, value) in error.headers { response.headers.append(name, value) }
        return response
    }

    /// A failed or refused commit: 503 when updates are backlogged, else 500; both with Retry-After.
    func storeError(_ error: StoreError) -> RegistrarError {
        if error.code == .overloaded {
            return RegistrarError(.storeUnavailable, status: 503, "Service Unavailable (registrations backlogged)",
                                  headers: [("Retry-After", "\(configuration.retryAfter)")])
        }
        return RegistrarError(.storeUnavailable, status: 500, "Server Internal Error (store unavailable)",
                              headers: [("Retry-After", "\(configuration.retryAfter)")])
    }

    /// RFC 3261 §10.3 steps 2 and 5-8 for a request already authenticated as `authenticatedAOR`
    /// (nil: authentication is off, any AOR of ours may be registered).
    public func register(_ request: SIPRequest, context: RegistrationContext, authenticatedAOR: String?) async -> SIPResponse {
        do throws(RegistrarError) {
            let plan = try makePlan(for: request, context: context, authenticatedAOR: authenticatedAOR)
            let found: UserRecord?
            do { found = try await directory.find(plan.aor) } catch {
                throw RegistrarError(.storeUnavailable, status: 500, "Server Internal Error (store unavailable)",
                                     headers: [("Retry-After", "\(configuration.retryAfter)")])
            }
            guard let user = found else { throw RegistrarError(.unknownUser, status: 404, "Not Found") }
            guard user.enabled else { throw RegistrarError(.forbidden, status: 403, "Forbidden (user disabled)") }
            let (outcome, now) = try await update(plan)
            return ok(request, bindings: try outcome.get(), now: now, plan: plan)
        } catch {
            var response = SIPResponse(responding: request, statusCode: error.status, reasonPhrase: error.reason,
                                       toTag: Self.localTag(for: request))
            for (name, value) in error.headers { response.headers.append(name, value) }
            return response
        }
    }

    /// Applies the plan to the AOR's bindings and persists the result (group commit); a store
    /// failure becomes 500 with Retry-After.
    func update(_ plan: RegistrationPlan) async throws(RegistrarError) -> (Result<[Binding], RegistrarError>, Int64) {
        do {
            return try await location.update(aor: plan.aor) { bindings, now in
                (plan.apply(to: &bindings, now: now), now)
            }
        } catch {
            throw storeError(error)
        }
    }

    /// Validates the request into a plan (no state touched).
    func makePlan(for request: SIPRequest, context: RegistrationContext, authenticatedAOR: String?) throws(RegistrarError) -> RegistrationPlan {
        // Step 2: Require.
        let unsupported = request.headers["Require"].map { $0.trimmed() }
            .filter { !$0.isEmpty && !configuration.supportedExtensions.contains($0.lowercased()) }
        if !unsupported.isEmpty {
            throw RegistrarError(.badExtension, status: 420, "Bad Extension",
                                 headers: [("Unsupported", unsupported.joined(separator: ", "))])
        }
        // Step 5: the address-of-record from To.
        guard let to = request.to else { throw RegistrarError(.badRequest, status: 400, "Bad Request (To missing or malformed)") }
        guard case .sip(let toURI) = to.uri else {
            throw RegistrarError(.badRequest, status: 400, "Bad Request (To must be a SIP or SIPS URI)")
        }
        guard configuration.domains.contains(toURI.host.lowercased()) else {
            throw RegistrarError(.notOurDomain, status: 404, "Not Found (domain not served here)")
        }
        guard let user = toURI.user else { throw RegistrarError(.unknownUser, status: 404, "Not Found") }
        guard let aor = AOR.normalize("\(user)@\(toURI.host)") else {
            throw RegistrarError(.badRequest, status: 400, "Bad Request (To is not a valid address-of-record)")
        }
        // Step 6: the authenticated user may only change its own bindings.
        if let authenticatedAOR, authenticatedAOR != aor {
            throw RegistrarError(.forbidden, status: 403, "Forbidden (not authorized for \(aor))")
        }
        guard let callID = request.callID else { throw RegistrarError(.badRequest, status: 400, "Bad Request (Call-ID missing)") }
        guard let cseq = try? request.cseq else { throw RegistrarError(.badRequest, status: 400, "Bad Request (CSeq missing or malformed)") }
        let path = request.headers["Path"].map { $0.trimmed() }
        var plan = RegistrationPlan(aor: aor, callID: callID, cseq: cseq.sequence, action: .query,
                                    flow: context.flow ?? "\(context.transport) \(context.source)",
                                    path: path, maxBindings: configuration.maxBindingsPerAOR)
        let contacts = request.contacts
        if contacts.isEmpty {
            if request.headers.first("Contact") != nil {
                throw RegistrarError(.badRequest, status: 400, "Bad Request (malformed Contact)")
            }
            return plan
        }
        // §10.2.2 / §10.3 step 6: `*` only alone and only with Expires: 0.
        if contacts.contains(where: \.isWildcard) {
            guard contacts.count == 1, request.expires == 0 else {
                throw RegistrarError(.badRequest, status: 400, "Bad Request (Contact: * needs Expires: 0 and no other Contact)")
            }
            plan.action = .removeAll
            return plan
        }
        // More contacts than bindings allowed can never succeed; refuse before any matching work.
        if contacts.count > configuration.maxBindingsPerAOR {
            throw RegistrarError(.tooManyBindings, status: 403,
                                 "Forbidden (more than \(configuration.maxBindingsPerAOR) contacts)")
        }
        // Step 7: each contact's expiration (§10.2.1.1) and q.
        var updates: [RegistrationPlan.ContactUpdate] = []
        updates.reserveCapacity(contacts.count)
        for contact in contacts {
            guard let nameAddr = contact.nameAddr else { continue }
            var expires = contact.expires ?? request.expires ?? configuration.defaultExpires
            if expires != 0, expires < configuration.minExpires {
                throw RegistrarError(.intervalTooBrief, status: 423, "Interval Too Brief",
                                     headers: [("Min-Expires", "\(configuration.minExpires)")])
            }
            expires = min(expires, configuration.maxExpires)
            var q: UInt16?
            if let value = contact.q {
                guard value >= 0, value <= 1 else { throw RegistrarError(.badRequest, status: 400, "Bad Request (q out of range)") }
                q = UInt16((value * 1000).rounded())
            }
            updates.append(.init(uri: nameAddr.uri, uriText: nameAddr.uri.description, expires: expires, qThousandths: q,
                                 instance: contact.instance, regID: contact.regID.map { UInt32(clamping: $0) }))
        }
        plan.action = .update(updates)
        return plan
    }

    /// The 200 (§10.3 step 8): every current binding with its remaining `expires`, plus Date,
    /// and Path (RFC 3327 §5.3) / Require: outbound (RFC 5626 §6) when the UA supports them.
    func ok(_ request: SIPRequest, bindings: [Binding], now: Int64, plan: RegistrationPlan) -> SIPResponse {
        var response = SIPResponse(responding: request, statusCode: 200, toTag: Self.localTag(for: request))
        for binding in bindings {
            var value = "<\(binding.contact)>;expires=\(max(0, binding.expiresAt - now))"
            if let q = binding.qThousandths { value += ";q=" + Self.formatQ(q) }
            if let instance = binding.instance { value += ";+sip.instance=\"\(instance)\"" }
            if let regID = binding.regID { value += ";reg-id=\(regID)" }
            response.headers.append("Contact", value)
        }
        response.headers.append("Date", Self.httpDate(now))
        let supported = Set(request.headers["Supported"].map { $0.trimmed().lowercased() })
        if supported.contains("path") {
            for path in plan.path { response.headers.append("Path", path) }
        }
        if supported.contains("outbound"), case .update(let updates) = plan.action, updates.contains(where: { $0.regID != nil }) {
            response.headers.append("Require", "outbound")
        }
        if let allowEvents = configuration.allowEvents {
            response.headers.append("Allow-Events", allowEvents)
            var expires: Int64 = 0
            if case .update(let updates) = plan.action {
                let contacts = Set(updates.map(\.uriText))
                for binding in bindings where contacts.contains(binding.contact) {
                    expires = max(expires, binding.expiresAt - now)
                }
            } else if let longest = bindings.map({ $0.expiresAt - now }).max() {
                expires = longest
            }
            response.headers.append("Expires", "\(max(0, expires))")
        }
        return response
    }
}
