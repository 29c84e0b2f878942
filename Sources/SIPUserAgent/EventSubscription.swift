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

    init(callID: String, localTag: String, target: String, event: String, accept: String,
         deliver: @escaping @Sendable (SIPRequest, SubscriptionState) -> Void, finish: @escaping @Sendable () -> Void) {
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
