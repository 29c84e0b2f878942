import NIOCore
import SIPCore
import SIPTransaction
import SIPTransport

/// The state of a user agent's registration (RFC 3261 §10), as last answered.
public struct RegistrationStatus: Hashable, Sendable {
    /// True between a 200 to our REGISTER and the unregister (or a refresh that failed).
    public var isRegistered = false
    /// The interval the registrar granted, in seconds.
    public var expires = 0
    /// Successful REGISTERs so far: the first, each refresh, each re-registration.
    public var registrations = 0
    /// Re-registrations after the flow to the proxy was lost (RFC 5626 §4.4.1).
    public var flowRecoveries = 0
    /// The status of the last final response to a REGISTER.
    public var lastStatus: Int?

    public init() {}
}

/// What the user agent holds under its lock.
struct AgentState {
    enum Phase { case idle, starting, running, stopping, stopped }
    var phase = Phase.idle
    /// The Contact host and port (our listener for the proxy's transport).
    var contact = SIPHostPort(host: "127.0.0.1", port: 0)
    var registerCSeq: UInt32 = 0
    var registration = RegistrationStatus()
    var refreshAt: ContinuousClock.Instant?
    var keepaliveAt: ContinuousClock.Instant?
    /// A connection closed; a keepalive tells whether it was the flow to the proxy.
    var flowSuspect = false
    var flowLost = false
    var publication: Publication?
    var maintenance: Task<Void, Never>?

    mutating func recordRegistration(_ granted: Int, margin: Duration, keepalive: Duration?) {
        registration.isRegistered = true
        registration.expires = granted
        registration.registrations += 1
        let now = ContinuousClock.now
        refreshAt = now + refreshDelay(granted: granted, margin: margin)
        if keepaliveAt == nil, let keepalive { keepaliveAt = now + keepalive }
    }
}

/// When to refresh something granted for `granted` seconds: `margin` before it expires, but
/// never later than half way (short intervals), and not sooner than a second.
func refreshDelay(granted: Int, margin: Duration) -> Duration {
    let whole = Duration.seconds(granted)
    return max(.seconds(1), min(whole - margin, whole / 2))
}

extension SIPUserAgent {
    /// The Contact of our registration: our listener, the proxy's transport, our instance
    /// and reg-id (RFC 5626 §4.2: the registrar keeps one binding per instance and flow).
    var contactValue: String {
        let contact = state.withLock { $0.contact }
        let transport = stack.proxy.transport == .udp ? "" : ";transport=\(stack.proxy.transport.rawValue)"
        let name = account.displayName.map { "\"\($0)\" " } ?? ""
        return "\(name)<sip:\(account.user)@\(contact)\(transport)>;+sip.instance=\"<\(instanceID)>\";reg-id=1"
    }

    func makeRegister(expires: Int) -> SIPRequest {
        let cseq = state.withLock { s in
            s.registerCSeq &+= 1
            return s.registerCSeq
        }
        var request = SIPRequest(method: .register, uri: URI("sip:\(account.domain)") ?? .sip(SIPURI(host: account.domain)))
        request.headers.append("Max-Forwards", "70")
        request.headers.append("From", "<sip:\(account.aor)>;tag=\(registrationTag)")
        request.headers.append("To", "<sip:\(account.aor)>")
        request.headers.append("Call-ID", registrationCallID)
        request.headers.append("CSeq", "\(cseq) REGISTER")
        request.headers.append("Contact", contactValue)
        request.headers.append("Expires", "\(expires)")
        request.headers.append("Supported", "outbound, path")
        request.headers.append("User-Agent", SIPUserAgent.product)
        request.headers.append("Content-Length", "0")
        return request
    }

    static let product = "swift-sip-server SIPUserAgent"

    /// One REGISTER asking for `expires` seconds (0: unregister our contact), answering a
    /// digest challenge and raising the interval once for a `423` (RFC 3261 §10.2.8).
    /// Returns the interval granted to our contact.
    func register(expires: Int) async throws(SIPUserAgentError) -> Int {
        var asked = expires
        for _ in 0..<3 {
            let (sent, response) = try await stack.send(makeRegister(expires: asked), digest: digest)
            let sentCSeq = (try? sent.cseq)?.sequence ?? 0
            state.withLock { s in
                s.registerCSeq = max(s.registerCSeq, sentCSeq)
                s.registration.lastStatus = response.statusCode
            }
            if response.statusCode == 423, let minimum = response.minExpires, minimum > asked {
                asked = minimum
                continue
            }
            guard (200..<300).contains(response.statusCode) else {
                throw .rejected(status: response.statusCode, reason: response.reasonPhrase)
            }
            return grantedExpires(response, asked: asked)
        }
        throw .rejected(status: 423, reason: "Interval Too Brief")
    }

    /// Our binding's interval in a 200 (RFC 3261 §10.2.4): the `expires` of the Contact with
    /// our instance, else the Expires header, else what we asked for.
    func grantedExpires(_ response: SIPResponse, asked: Int) -> Int {
        let ours = response.contacts.first { $0.instance == "<\(instanceID)>" || $0.instance == instanceID }
        return ours?.expires ?? response.expires ?? asked
    }

    // MARK: maintenance

    enum Chore: Sendable {
        case register
        case keepalive
        case republish
        case resubscribe(String)
    }

    /// The one maintenance task: waits for the next deadline (or an alarm) and does what is due.
    func maintain() async {
        while !Task.isCancelled {
            let now = ContinuousClock.now
            guard let (chores, next) = dueChores(now: now) else { return }
            for chore in chores where !Task.isCancelled { await perform(chore) }
            if chores.isEmpty { await alarm.wait(for: next - ContinuousClock.now) }
        }
    }

    func dueChores(now: ContinuousClock.Instant) -> ([Chore], ContinuousClock.Instant)? {
        let far = now + .seconds(3600)
        guard var (chores, next) = state.withLock({ s -> ([Chore], ContinuousClock.Instant)? in
            guard s.phase == .running else { return nil }
            var chores: [Chore] = []
            if s.flowLost || (s.refreshAt.map { $0 <= now } ?? false) { chores.append(.register) }
            if s.flowSuspect || (s.keepaliveAt.map { $0 <= now } ?? false) { chores.append(.keepalive) }
            if let refresh = s.publication?.refreshAt, refresh <= now { chores.append(.republish) }
            let next = [s.refreshAt, s.keepaliveAt, s.publication?.refreshAt].compactMap { $0 }.min() ?? far
            return (chores, next)
        }) else { return nil }
        for (callID, subscription) in subscriptions.withLock({ $0 }) {
            guard let refresh = subscription.refreshAt else { continue }
            if refresh <= now { chores.append(.resubscribe(callID)) } else { next = min(next, refresh) }
        }
        return (chores, next)
    }

    func perform(_ chore: Chore) async {
        switch chore {
        case .register: await refreshRegistration()
        case .keepalive: await keepalive()
        case .republish: await refreshPublication()
        case .resubscribe(let callID): await refreshSubscription(callID)
        }
    }

    /// A refresh (or a re-registration over a new flow); on failure, try again in 5 s.
    func refreshRegistration() async {
        let recovering = state.withLock { s in
            defer { s.flowLost = false }
            return s.flowLost
        }
        do {
            let granted = try await register(expires: account.registrationExpires)
            state.withLock { s in
                s.recordRegistration(granted, margin: account.refreshMargin, keepalive: account.keepaliveInterval)
                if recovering { s.registration.flowRecoveries += 1 }
            }
        } catch {
            logger.notice("registration refresh failed", metadata: ["sip.aor": "\(account.aor)", "sip.error": "\(error)"])
            state.withLock { s in
                s.registration.isRegistered = false
                s.refreshAt = ContinuousClock.now + .seconds(5)
            }
        }
    }

    /// RFC 5626 §4.4.1: a CRLFCRLF ping on the flow. One that cannot be sent means the flow
    /// is gone: register again at once (a new connection is opened for it).
    func keepalive() async {
        let proxy = stack.proxy
        state.withLock { s in
            s.flowSuspect = false
            s.keepaliveAt = account.keepaliveInterval.map { ContinuousClock.now + $0 }
        }
        guard let endpoint = try? SIPEndpoint(transport: proxy.transport, ip: proxy.address.host, port: proxy.address.port) else { return }
        do {
            try await stack.transportLayer.sendKeepalive(to: endpoint).get()
        } catch {
            logger.notice("flow to the proxy lost, registering again", metadata: ["sip.aor": "\(account.aor)"])
            state.withLock { $0.flowLost = true }
            await refreshRegistration()
        }
    }
}
