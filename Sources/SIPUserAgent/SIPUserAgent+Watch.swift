import PresenceDocuments
import SIPCore
import SIPTransaction
import Synchronization

/// The notifications of one subscription of ours (RFC 6665) as an `AsyncSequence`: what
/// ``SIPUserAgent/watch(_:)`` and ``SIPUserAgent/watchers()`` return. One consumer.
///
/// The subscription is refreshed before it expires and ends (SUBSCRIBE with `Expires: 0`,
/// RFC 6665 §4.1.2.3) when the task iterating it is cancelled, when ``cancel()`` is called
/// or when the user agent stops; the sequence then finishes. When the notifier ends the
/// subscription it is made again where RFC 6665 §4.1.3 invites it (`reason=deactivated` or
/// `timeout`; `probation` and `giveup` after their `retry-after`, up to an hour), and when a
/// refresh finds the dialog gone (481: the notifier restarted without it); at most three
/// times a minute. Any other end (`rejected`, `noresource`, a refusal) finishes the sequence.
public struct SubscriptionSequence<Element: Sendable>: AsyncSequence, Sendable {
    let stream: AsyncStream<Element>
    let continuation: AsyncStream<Element>.Continuation

    public func makeAsyncIterator() -> AsyncStream<Element>.Iterator {
        stream.makeAsyncIterator()
    }

    /// Ends the subscription and finishes the sequence.
    public func cancel() {
        continuation.finish()
    }
}

/// Presence states of one presentity, from ``SIPUserAgent/watch(_:)``.
public typealias PresenceWatch = SubscriptionSequence<PresenceState>
/// Our own watchers (all of them, each notification), from ``SIPUserAgent/watchers()``.
public typealias WatcherInfoWatch = SubscriptionSequence<[WatcherEntry]>

extension SIPUserAgent {
    /// Watches the presence of `aor` (RFC 3856: SUBSCRIBE `Event: presence`, `Accept:
    /// application/pidf+xml`, in a SIPDialog dialog). Returns once the SUBSCRIBE is accepted
    /// (2xx, after a digest challenge); each NOTIFY then yields the state its PIDF/RPID
    /// document shows (``PresenceState``; a pending subscription yields a state without
    /// one). At most 64 states wait unread (the oldest are dropped).
    /// - Throws: ``SIPUserAgentError/rejected(status:reason:)`` (403, 404, 489...), the
    ///   transport errors, ``SIPUserAgentError/notRunning``.
    public func watch(_ aor: String) async throws(SIPUserAgentError) -> PresenceWatch {
        let target = try normalizedAOR(aor)
        return try await subscribe(to: target, event: "presence", accept: PresenceContentType.pidf) { notify, state in
            guard !notify.body.isEmpty, let summary = try? PIDFDocument.parse(notify.body).summary else {
                return PresenceState(aor: target, status: .offline, subscriptionState: state)
            }
            return PresenceState(aor: target, status: PresenceStatus(summary: summary), activities: summary.activities,
                                 note: summary.note, subscriptionState: state)
        }
    }

    /// Watches who watches us (RFC 3857 `presence.winfo` on our own AOR, RFC 3858 documents):
    /// each notification yields every watcher known so far (full state replaces the list,
    /// partial state updates it), among them the pending ones waiting for our decision.
    public func watchers() async throws(SIPUserAgentError) -> WatcherInfoWatch {
        let known = WatcherTable()
        return try await subscribe(to: account.aor, event: "presence.winfo", accept: PresenceContentType.watcherInfo) { notify, _ in
            guard let document = try? WatcherInfoDocument.parse(notify.body) else { return nil }
            return known.apply(document)
        }
    }

    /// The initial SUBSCRIBE (RFC 6665 §4.1.2.1) of a subscription whose NOTIFYs `map` turns
    /// into elements (nil: nothing to yield).
    func subscribe<Element: Sendable>(to target: String, event: String, accept: String,
                                      map: @escaping @Sendable (SIPRequest, SubscriptionState) -> Element?)
        async throws(SIPUserAgentError) -> SubscriptionSequence<Element>
    {
        guard state.withLock({ $0.phase == .running }) else { throw .notRunning }
        let (stream, continuation) = AsyncStream.makeStream(of: Element.self, bufferingPolicy: .bufferingNewest(64))
        let callID = Self.randomToken() + "@" + account.domain
        let localTag = Self.randomToken()
        let watch = WatchHandle(callID: callID)
        let subscription = EventSubscription(
            callID: callID, localTag: localTag, target: target, event: event, accept: accept, watch: watch,
            deliver: { notify, state in if let element = map(notify, state) { continuation.yield(element) } },
            finish: { continuation.finish() })
        try await sendInitialSubscribe(subscription)
        continuation.onTermination = { [weak self] _ in
            watch.end()
            self?.endSubscription(watch.callID)
        }
        alarm.ring()
        return SubscriptionSequence(stream: stream, continuation: continuation)
    }

    /// A NOTIFY (on the event loop): answered 200 when it belongs to one of our
    /// subscriptions (481 otherwise, RFC 6665 §4.1.3), then handed to it.
    func receiveNotify(_ transaction: ServerTransaction) {
        let notify = transaction.request
        guard let callID = notify.callID, let subscription = subscriptions.withLock({ $0[callID] }),
              notify.to?.tag == subscription.localTag else {
            try? transaction.respond(481)
            return
        }
        if case .reject(let status, let reason) = subscription.accept(notify) {
            try? transaction.respond(status, reasonPhrase: reason)
            return
        }
        try? transaction.respond(200)
        let (state, expires) = EventSubscription.subscriptionState(notify)
        subscription.deliver(notify, state)
        if state == .terminated {
            subscriptions.withLock { $0[callID] = nil }
            let (reason, retryAfter) = EventSubscription.termination(notify)
            let delay: Int? = switch reason {
            case "deactivated", "timeout": 0
            case "probation", "giveup": retryAfter.flatMap { $0 <= 3600 ? $0 : nil } ?? (reason == "probation" ? 0 : nil)
            default: nil
            }
            if let delay {
                Task { [self] in
                    if delay > 0 { try? await Task.sleep(for: .seconds(delay)) }
                    await resubscribe(subscription, because: "notifier ended it (\(reason ?? ""))")
                }
            } else {
                subscription.finish()
            }
        } else if let expires, expires > 0 {
            // The notifier may shorten the subscription (RFC 6665 §4.2.1.1): refresh in time.
            let at = ContinuousClock.now + refreshDelay(granted: expires, margin: account.refreshMargin)
            subscription.state.withLock { s in if let current = s.refreshAt, current > at { s.refreshAt = at } }
        }
    }

    /// The maintenance task's refresh of subscription `callID` (RFC 6665 §4.1.2.2). A 481 or
    /// another refusal ends it (the sequence finishes); a timeout or transport error is retried.
    func refreshSubscription(_ callID: String) async {
        guard let subscription = subscriptions.withLock({ $0[callID] }) else { return }
        guard let request = subscription.makeRefresh(expires: account.subscriptionExpires, contact: contactValue) else {
            // No dialog to refresh in (a 2xx without a usable Contact): the subscription is over.
            if subscriptions.withLock({ $0.removeValue(forKey: callID) }) != nil { subscription.finish() }
            return
        }
        do {
            let (sent, response) = try await stack.send(request, digest: digest)
            if (200..<300).contains(response.statusCode) {
                subscription.accept(response, to: sent, margin: account.refreshMargin, asked: account.subscriptionExpires)
                return
            }
            guard subscriptions.withLock({ $0.removeValue(forKey: callID) }) != nil else { return }
            if response.statusCode == 481 {  // the notifier no longer knows the dialog (RFC 6665 §4.1.2.2)
                await resubscribe(subscription, because: "refresh answered 481")
                return
            }
            logger.notice("subscription refresh refused, ending it",
                          metadata: ["sip.target": "\(subscription.target)", "sip.status": "\(response.statusCode)"])
            subscription.finish()
        } catch {
            subscription.state.withLock { $0.refreshAt = .now + .seconds(5) }
        }
    }

    /// The notifier ended `old`'s dialog: a new initial SUBSCRIBE (new Call-ID and tag) for
    /// the same watch, whose NOTIFYs feed the same sequence. The sequence finishes when the
    /// new SUBSCRIBE is refused or fails, when the watch's budget is spent, or when the user
    /// agent stops.
    func resubscribe(_ old: EventSubscription, because why: String) async {
        let callID = Self.randomToken() + "@" + account.domain
        let localTag = Self.randomToken()
        guard state.withLock({ $0.phase == .running }), old.watch.resubscribe(as: callID) else {
            old.finish()
            return
        }
        let subscription = EventSubscription(
            callID: callID, localTag: localTag, target: old.target, event: old.event, accept: old.accept,
            watch: old.watch, deliver: old.deliver, finish: old.finish)
        logger.info("subscribing again", metadata: ["sip.target": "\(old.target)", "sip.event": "\(old.event)", "reason": "\(why)"])
        do {
            try await sendInitialSubscribe(subscription)
        } catch {
            logger.notice("subscribing again failed, ending the watch",
                          metadata: ["sip.target": "\(old.target)", "sip.error": "\(error)"])
            subscription.finish()
            return
        }
        if old.watch.ended {  // the consumer went away while the SUBSCRIBE was out
            endSubscription(callID)
            return
        }
        alarm.ring()
    }

    /// Sends `subscription`'s initial SUBSCRIBE (RFC 6665 §4.1.2.1, a new dialog) with the
    /// subscription registered for its NOTIFYs meanwhile; on a 2xx its dialog and refresh
    /// deadline are set, otherwise it is unregistered and the refusal or failure thrown.
    private func sendInitialSubscribe(_ subscription: EventSubscription) async throws(SIPUserAgentError) {
        let callID = subscription.callID
        subscriptions.withLock { $0[callID] = subscription }
        let request = makeRequest(.subscribe, to: subscription.target, headers: [
            ("Contact", contactValue), ("Event", subscription.event), ("Accept", subscription.accept),
            ("Expires", "\(account.subscriptionExpires)"),
        ], callID: callID, fromTag: subscription.localTag)
        let sent: SIPRequest, response: SIPResponse
        do {
            (sent, response) = try await stack.send(request, digest: digest)
        } catch {
            subscriptions.withLock { $0[callID] = nil }
            throw error
        }
        guard (200..<300).contains(response.statusCode) else {
            subscriptions.withLock { $0[callID] = nil }
            throw .rejected(status: response.statusCode, reason: response.reasonPhrase)
        }
        subscription.accept(response, to: sent, margin: account.refreshMargin, asked: account.subscriptionExpires)
    }

    /// The consumer is gone (cancelled, ``SubscriptionSequence/cancel()``): unsubscribe with
    /// the callback form (nobody waits for the answer).
    func endSubscription(_ callID: String) {
        guard let subscription = subscriptions.withLock({ $0.removeValue(forKey: callID) }),
              let request = subscription.makeRefresh(expires: 0, contact: contactValue) else { return }
        stack.send(request, digest: digest) { _ in }
    }

    /// ``stop()``: every subscription unsubscribed, the answers awaited, the sequences finished.
    func endAllSubscriptions() async {
        let all = subscriptions.withLock { s in
            defer { s.removeAll() }
            return Array(s.values)
        }
        for subscription in all {
            if let request = subscription.makeRefresh(expires: 0, contact: contactValue) {
                _ = try? await stack.send(request, digest: digest)
            }
            subscription.finish()
        }
    }
}

/// The watchers of our watcher-info subscription, merged across notifications (RFC 3858
/// §4.2: full state replaces, partial state updates by watcher id).
final class WatcherTable: Sendable {
    private let entries = Mutex<[(id: String, entry: WatcherEntry)]>([])

    func apply(_ document: WatcherInfoDocument) -> [WatcherEntry] {
        entries.withLock { list in
            if document.state == .full { list.removeAll() }
            for watcher in document.watcherList.watchers {
                let entry = WatcherEntry(uri: watcher.uri, status: WatcherEntry.Status(rawValue: watcher.status.rawValue) ?? .pending,
                                         id: watcher.id, event: watcher.event.rawValue)
                if let index = list.firstIndex(where: { $0.id == watcher.id }) {
                    list[index].entry = entry
                } else {
                    list.append((watcher.id, entry))
                }
            }
            return list.map(\.entry)
        }
    }
}
