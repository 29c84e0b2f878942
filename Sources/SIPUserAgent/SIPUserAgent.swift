import Logging
import SIPCore
import SIPTransaction
import SIPTransport
import Synchronization

/// A SIP user agent for instant messaging and presence, with async/await at its edges and
/// the servers' own layers inside: SIPTransport's transport layer, SIPTransaction's
/// transaction layer (client transactions in its callback form), SIPDialog's dialogs, the
/// digest client of SIPDigest and the PIDF/RPID documents of PresenceDocuments.
///
/// ```swift
/// let account = SIPAccount(aor: "alice@example.com", password: "secret",
///                          outboundProxy: "sip:127.0.0.1:5060;transport=tcp")
/// let alice = try SIPUserAgent(account: account)
/// try await alice.start()                       // REGISTER, refreshed before expiry
/// let sent = try await alice.send(text: "hi", to: "bob@example.com")
/// for await message in alice.messages { print(message.from, message.text) }
/// await alice.stop()                            // unregister (Expires: 0)
/// ```
///
/// - Account: ``start()`` registers (RFC 3261 §10.2, digest MD5 or SHA-256 with qop=auth and
///   an incrementing nonce count), refreshes the registration before it expires, sends RFC
///   5626 keepalives on the flow and registers again when the flow is lost; ``stop()`` (or
///   cancelling ``run()``) ends subscriptions, removes the publication and unregisters.
/// - Instant messages: ``send(text:to:requestingDeliveryNotification:)`` (RFC 3428),
///   ``messages`` for incoming ones (each answered 200), RFC 5438 delivery notifications
///   (``deliveryNotification(for:timeout:)``).
/// - Presence: ``publish(state:note:)`` (RFC 3903), ``watch(_:)`` (RFC 6665/3856) and
///   ``watchers()`` (RFC 3857 watcher info).
///
/// Incoming requests are handled on the event loop that read them, without a task per
/// message: a MESSAGE is answered and yielded to ``messages``, a NOTIFY answered and its
/// document parsed and yielded to its watch. One maintenance task per user agent refreshes
/// what must be refreshed.
public final class SIPUserAgent: Sendable {
    /// The account this user agent signs in with.
    public let account: SIPAccount
    let logger: Logger
    let stack: UserAgentStack
    let digest: DigestSession
    let state = Mutex(AgentState())
    /// Wakes the maintenance task (a new deadline, a lost flow, stop).
    let alarm = Alarm()
    /// Wakes ``run()`` on ``stop()``.
    let stopAlarm = Alarm()
    /// Live subscriptions (watches), by Call-ID.
    let subscriptions = Mutex<[String: EventSubscription]>([:])
    let deliveries = DeliveryNotifications()
    let messageSink: AsyncStream<InstantMessage>.Continuation
    /// Our identity in REGISTER (RFC 3261 §10.2: one Call-ID for all registrations of a UA)
    /// and our Contact's `+sip.instance` (RFC 5626 §4.1).
    let registrationCallID: String
    let registrationTag: String
    let instanceID: String

    /// Incoming instant messages (RFC 3428), each already answered 200, in arrival order;
    /// delivery notifications for our own messages are not among them. One consumer. Holds
    /// up to 1,024 unread messages; past that a MESSAGE is answered `486 Busy Here`. Ends
    /// when the user agent stops.
    public let messages: AsyncStream<InstantMessage>

    /// Creates a user agent for `account`; nothing is sent until ``start()``.
    /// - Throws: ``SIPUserAgentError/invalidArgument(_:)`` for an AOR without `@` or an
    ///   outbound proxy that is not a SIP URI (or a host that does not resolve).
    public init(account: SIPAccount, logger: Logger = Logger(label: "sip.user-agent")) throws(SIPUserAgentError) {
        guard account.aor.contains("@"), !account.domain.isEmpty else {
            throw .invalidArgument("AOR '\(account.aor)' is not user@domain")
        }
        self.account = account
        self.logger = logger
        stack = try UserAgentStack(account: account, logger: logger)
        digest = DigestSession(username: account.digestUsername, password: account.password)
        (messages, messageSink) = AsyncStream.makeStream(of: InstantMessage.self, bufferingPolicy: .bufferingOldest(1024))
        registrationCallID = Self.randomToken() + "@" + account.domain
        registrationTag = Self.randomToken()
        instanceID = Self.uuidURN()
    }

    /// The registration as last answered by the registrar.
    public var registration: RegistrationStatus {
        state.withLock { $0.registration }
    }

    /// Binds the sockets, registers and starts refreshing. Returns once the registrar has
    /// answered 200 (after a digest challenge, or a `423` raising the interval).
    /// - Throws: ``SIPUserAgentError/rejected(status:reason:)`` (403 for a wrong password,
    ///   after the challenge), ``SIPUserAgentError/timeout``, ``SIPUserAgentError/transport(_:)``;
    ///   the sockets are closed again then.
    public func start() async throws(SIPUserAgentError) {
        let fresh = state.withLock { s in
            guard s.phase == .idle else { return false }
            s.phase = .starting
            return true
        }
        guard fresh else { throw .invalidArgument("start() may be called once") }
        let listeners = try await stack.start(dispatch: { [weak self] event in self?.dispatch(event) },
                                              connectionClosed: { [weak self] _ in self?.flowClosed() })
        state.withLock { $0.contact = stack.contactAddress(listeners) }
        do {
            let granted = try await register(expires: account.registrationExpires)
            state.withLock { s in
                s.phase = .running
                s.recordRegistration(granted, margin: account.refreshMargin, keepalive: account.keepaliveInterval)
            }
        } catch {
            state.withLock { $0.phase = .stopped }
            messageSink.finish()
            await stack.shutdown()
            throw error
        }
        let task = Task<Void, Never> { [weak self] in await self?.maintain() }
        state.withLock { $0.maintenance = task }
        logger.info("registered", metadata: ["sip.aor": "\(account.aor)"])
    }

    /// Signs out cleanly and closes the sockets: ends every watch (SUBSCRIBE with
    /// `Expires: 0`, RFC 6665 §4.1.2.3), removes the publication (PUBLISH with `Expires: 0`,
    /// RFC 3903 §4.5), unregisters (REGISTER with `Expires: 0`, RFC 3261 §10.2.2), then ends
    /// ``messages``. Waits for the answers (each bounded by the transaction timers).
    /// Calling it again, or before ``start()``, does nothing.
    public func stop() async {
        let task: Task<Void, Never>? = state.withLock { s in
            guard s.phase == .running else { return nil }
            s.phase = .stopping
            return s.maintenance
        }
        guard let task else { return }
        stopAlarm.ring()
        task.cancel()
        alarm.ring()
        await task.value
        await endAllSubscriptions()
        try? await unpublish()
        do {
            _ = try await register(expires: 0)
        } catch {
            logger.notice("unregister failed", metadata: ["sip.aor": "\(account.aor)", "sip.error": "\(error)"])
        }
        state.withLock { s in
            s.phase = .stopped
            s.registration.isRegistered = false
        }
        messageSink.finish()
        deliveries.failAll(.notRunning)
        await stack.shutdown()
    }

    /// Starts (see ``start()``), then serves until ``stop()`` is called or the task running it
    /// is cancelled, then stops cleanly (see ``stop()``): cancelling the task unregisters.
    public func run() async throws(SIPUserAgentError) {
        try await start()
        while state.withLock({ $0.phase == .running }), !Task.isCancelled {
            await stopAlarm.wait(for: .seconds(3600))
        }
        await stop()
    }

    // MARK: incoming requests (on the event loop that read them)

    func dispatch(_ event: TransactionUserEvent) {
        switch event {
        case .request(let transaction):
            switch transaction.request.method {
            case .message: receiveMessage(transaction)
            case .notify: receiveNotify(transaction)
            case .options: try? transaction.respond(200, headers: [("Allow", Self.allow), ("Accept", "text/plain, message/cpim")])
            case .bye: try? transaction.respond(481)
            default: try? transaction.respond(405, headers: [("Allow", Self.allow)])
            }
        case .cancel(_, let invite):
            try? invite.respond(487)
        default:
            break
        }
    }

    static let allow = "MESSAGE, NOTIFY, OPTIONS"

    /// A connection closed: if it was the flow to the proxy, register again over a new one
    /// (RFC 5626 §4.4.1); the maintenance task checks with a keepalive.
    func flowClosed() {
        guard stack.proxy.transport.isReliable else { return }
        let running = state.withLock { s in
            guard s.phase == .running else { return false }
            s.flowSuspect = true
            return true
        }
        if running { alarm.ring() }
    }

    // MARK: helpers

    /// 64 random bits as hex: tags (RFC 3261 §19.3), Call-IDs, IMDN Message-IDs.
    static func randomToken() -> String { String(UInt64.random(in: 1...UInt64.max), radix: 16) }

    /// A random (version 4) UUID URN for `+sip.instance` (RFC 5626 §4.1, RFC 4122).
    static func uuidURN() -> String {
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255) }
        bytes[6] = bytes[6] & 0x0f | 0x40
        bytes[8] = bytes[8] & 0x3f | 0x80
        let hex = bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }
        let groups = [hex[0..<4], hex[4..<6], hex[6..<8], hex[8..<10], hex[10..<16]].map { $0.joined() }
        return "urn:uuid:" + groups.joined(separator: "-")
    }

    /// `user@domain` of a SIP URI (its address of record without the scheme).
    static func bareAOR(_ uri: URI?) -> String {
        guard let uri else { return "" }
        guard let aor = uri.sipURI?.addressOfRecord else { return uri.description }
        if aor.hasPrefix("sips:") { return String(aor.dropFirst(5)) }
        return aor.hasPrefix("sip:") ? String(aor.dropFirst(4)) : aor
    }

    /// `user@domain` for a target given as `sip:user@domain`, `user@domain` or `user` (our domain).
    func normalizedAOR(_ target: String) throws(SIPUserAgentError) -> String {
        var text = target
        if text.hasPrefix("sip:") { text.removeFirst(4) }
        if !text.contains("@") { text += "@" + account.domain }
        guard URI("sip:" + text)?.sipURI?.user != nil else { throw .invalidArgument("'\(target)' is not a SIP address") }
        return text
    }
}
