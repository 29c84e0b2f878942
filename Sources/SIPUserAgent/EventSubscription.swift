import SIPCore
import SIPDialog
import Synchronization

/// One subscription of ours (RFC 6665 §4.1): its dialog once the first 2xx or NOTIFY has
/// created it, its refresh deadline, and what to do with each NOTIFY.
final class EventSubscription: Sendable {
    struct State {
        var dialog: Dialog?
        /// The CSeq number of our last SUBSCRIBE (a dialog made from an early NOTIFY starts there).
        var localSeq: UInt32 = 1
        var refreshAt: ContinuousClock.Instant?
    }

    let callID: String
    let localTag: String
    /// The resource, `bob@example.com`.
    let target: String
    /// `presence` or `presence.winfo`.
    let event: String
    let accept: String
    let state = Mutex(State())
    /// Called with each accepted NOTIFY, on the event loop that read it.
    let deliver: @Sendable (SIPRequest, SubscriptionState) -> Void
    /// Ends the consumer's sequence.
    let finish: @Sendable () -> Void
    /// The watch this dialog serves: it outlives the dialog when the notifier ends it and
    /// we subscribe again (RFC 6665 §4.1.3).
    let watch: WatchHandle

    init(callID: String, localTag: String, target: String, event: String, accept: String, watch: WatchHandle,
         deliver: @escaping @Sendable (SIPRequest, SubscriptionState) -> Void, finish: @escaping @Sendable () -> Void) {
        self.watch = watch
        self.callID = callID
        self.localTag = localTag
        self.target = target
        self.event = event
        self.accept = accept
        self.deliver = deliver
        self.finish = finish
    }

    var refreshAt: ContinuousClock.Instant? { state.withLock { $0.refreshAt } }

    /// RFC 3261 §12.2.2 for a NOTIFY in this subscription: the first one creates the dialog
    /// when it beats the 2xx to our SUBSCRIBE (RFC 6665 §4.1.2.4), later ones must come in
    /// order; each may move the remote target (§4.3).
    func accept(_ notify: SIPRequest) -> DialogRequestCheck {
        state.withLock { s in
            if var dialog = s.dialog {
                let check = dialog.receive(notify)
                s.dialog = dialog
                return check
            }
            guard let remoteTag = notify.from?.tag, let cseq = try? notify.cseq, let from = notify.from, let to = notify.to,
                  let target = notify.contacts.first?.nameAddr?.uri
            else { return .reject(status: 400, reason: "Bad Request") }
            var localURI = to
            localURI.tag = nil
            var remoteURI = from
            remoteURI.tag = nil
            s.dialog = Dialog(id: DialogID(callID: callID, localTag: localTag, remoteTag: remoteTag), localURI: localURI,
                              remoteURI: remoteURI, localSeq: s.localSeq, remoteSeq: cseq.sequence, remoteTarget: target,
                              routeSet: notify.recordRoutes, secure: false)
            return .accept
        }
    }

    /// Takes the 2xx to a SUBSCRIBE we sent (`request` as last sent): creates the dialog when
    /// no NOTIFY has (RFC 3261 §12.1.2), keeps the CSeq number, sets the refresh deadline from
    /// the granted Expires.
    func accept(_ response: SIPResponse, to request: SIPRequest, margin: Duration, asked: Int) {
        let sent = (try? request.cseq)?.sequence ?? 1
        let granted = response.expires ?? asked
        state.withLock { s in
            s.localSeq = max(s.localSeq, sent)
            if s.dialog == nil { s.dialog = try? Dialog.uac(request: request, response: response) }
            if var dialog = s.dialog {
                dialog.localSeq = max(dialog.localSeq, sent)
                dialog.receiveResponse(response, to: request)
                s.dialog = dialog
            }
            s.refreshAt = granted > 0 ? .now + refreshDelay(granted: granted, margin: margin) : nil
        }
    }

    /// A SUBSCRIBE in the dialog (refresh, or `expires` 0 to end it, RFC 6665 §4.1.2.2-3);
    /// nil before the dialog exists.
    func makeRefresh(expires: Int, contact: String) -> SIPRequest? {
        state.withLock { s in
            guard var dialog = s.dialog else { return nil }
            var request = dialog.makeRequest(.subscribe, headers: [
                SIPHeaderField(name: "Contact", value: contact), SIPHeaderField(name: "Event", value: event),
                SIPHeaderField(name: "Accept", value: accept), SIPHeaderField(name: "Expires", value: "\(expires)"),
            ])
            request.headers.append("Content-Length", "0")
            s.dialog = dialog
            s.localSeq = dialog.localSeq
            s.refreshAt = nil
            return request
        }
    }

    /// The `reason` (lowercased) and `retry-after` parameters of a NOTIFY's `Subscription-State`.
    static func termination(_ notify: SIPRequest) -> (reason: String?, retryAfter: Int?) {
        let header = notify.subscriptionState
        return (header?.reason?.lowercased(), header?.retryAfter)
    }

    /// The `Subscription-State` of a NOTIFY (RFC 6665 §8.2.3) and its `expires`, if any.
    static func subscriptionState(_ notify: SIPRequest) -> (SubscriptionState, Int?) {
        let value = notify.headers.first("Subscription-State")?.lowercased() ?? "active"
        let parts = value.split(separator: ";").map { String($0).trimmingSpaces }
        let state: SubscriptionState = switch parts.first ?? "" {
        case "pending": .pending
        case "terminated": .terminated
        default: .active
        }
        let expires = parts.dropFirst().first { $0.hasPrefix("expires=") }.flatMap { Int($0.dropFirst("expires=".count)) }
        return (state, expires)
    }
}

/// One watch (``SIPUserAgent/watch(_:)``, ``SIPUserAgent/watchers()``) across the dialogs
/// that serve it: the current dialog's Call-ID, for the consumer's cancellation, and the
/// re-subscriptions made, so a notifier that ends every new subscription at once is not
/// asked again and again.
final class WatchHandle: Sendable {
    private struct State {
        var callID: String
        var resubscribedAt: [ContinuousClock.Instant] = []
        var ended = false
    }
    private let state: Mutex<State>

    /// At most this many re-subscriptions within ``window``; past it the watch ends.
    static let maxResubscriptions = 3
    static let window: Duration = .seconds(60)

    init(callID: String) { state = Mutex(State(callID: callID)) }

    var callID: String { state.withLock { $0.callID } }

    /// The consumer is gone: no dialog is made for this watch any more.
    func end() { state.withLock { $0.ended = true } }
    var ended: Bool { state.withLock { $0.ended } }

    /// Moves the watch to a new dialog; false when the budget is spent or the watch ended.
    func resubscribe(as callID: String) -> Bool {
        let now = ContinuousClock.now
        return state.withLock { s in
            guard !s.ended else { return false }
            s.resubscribedAt.removeAll { now - $0 > Self.window }
            guard s.resubscribedAt.count < Self.maxResubscriptions else { return false }
            s.resubscribedAt.append(now)
            s.callID = callID
            return true
        }
    }
}
