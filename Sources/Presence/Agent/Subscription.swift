import SIPCore
import SIPDialog
import SIPTransaction
import Store

/// The event packages this presence agent serves (RFC 3856 §6.2, RFC 3857 §4).
public enum PresencePackage: String, Sendable, CaseIterable {
    case presence
    case winfo = "presence.winfo"

    /// The package an `Event` header names (compared without case: clients differ), nil
    /// for one we do not serve (489, RFC 6665 §4.2.1).
    init?(event: EventHeader) {
        let name = event.package.lowercased()
        guard let package = PresencePackage(rawValue: name) else { return nil }
        self = package
    }

    /// The body type of this package's NOTIFYs.
    var contentType: String {
        switch self {
        case .presence: PresenceContentType.pidf
        case .winfo: PresenceContentType.watcherInfo
        }
    }
}

/// RFC 6665 §4.1.2 subscription states as the notifier keeps them.
public enum SubscriptionStatus: String, Sendable {
    /// Authorized: NOTIFYs carry the presentity's state (or, politely blocked, "offline").
    case active
    /// Waiting for the presentity's decision (RFC 3857 §3.2): NOTIFYs carry no state.
    case pending
}

/// A dialog kept compact, its URIs as the text they came as (RFC 3261 §12.1.1): the agent
/// holds one per subscription, and 500,000 of them must fit in memory. The full
/// ``Dialog`` is rebuilt for the moment a NOTIFY is made or a refresh is checked.
struct StoredDialog {
    var id: DialogID
    var localURI: String
    var remoteURI: String
    var remoteTarget: String
    var routeSet: [String]
    var localSeq: UInt32
    var remoteSeq: UInt32?
    var secure: Bool

    init(_ dialog: Dialog) {
        id = dialog.id
        localURI = dialog.localURI.description
        remoteURI = dialog.remoteURI.description
        remoteTarget = dialog.remoteTarget.description
        routeSet = dialog.routeSet.map(\.description)
        localSeq = dialog.localSeq
        remoteSeq = dialog.remoteSeq
        secure = dialog.secure
    }

    init(id: DialogID, localURI: String, remoteURI: String, remoteTarget: String, routeSet: [String],
         localSeq: UInt32, remoteSeq: UInt32?, secure: Bool) {
        self.id = id
        self.localURI = localURI
        self.remoteURI = remoteURI
        self.remoteTarget = remoteTarget
        self.routeSet = routeSet
        self.localSeq = localSeq
        self.remoteSeq = remoteSeq
        self.secure = secure
    }

    /// The dialog, parsed back (nil only if stored text no longer parses).
    var dialog: Dialog? {
        guard let local = NameAddr(localURI), let remote = NameAddr(remoteURI), let target = URI(remoteTarget) else {
            return nil
        }
        return Dialog(id: id, localURI: local, remoteURI: remote, localSeq: localSeq, remoteSeq: remoteSeq,
                      remoteTarget: target, routeSet: routeSet.compactMap { NameAddr($0) }, secure: secure)
    }

    /// The next request of a dialog with no route set, built from the stored text: the
    /// request ``SIPDialog/Dialog/makeRequest(_:headers:body:maxForwards:)`` builds (§12.2.1.1:
    /// Request-URI = the remote target, no Route; Max-Forwards, From with our tag, To with
    /// theirs, Call-ID, CSeq = the next local number, then `headers`), without parsing the
    /// name-addrs back only to write them out again. `target` is the parsed remote target.
    /// `headers` must not name a field this writes (the agent's never do). nil, taking no
    /// number, when there is a route set (the caller parses the dialog).
    mutating func makeRequestWithoutRoutes(_ method: SIPMethod, target: URI, headers extra: [SIPHeaderField],
                                           body: [UInt8]) -> SIPRequest? {
        guard routeSet.isEmpty else { return nil }
        localSeq &+= 1
        var h = SIPHeaders()
        h.reserveCapacity(6 + extra.count)  // the five below, the extras and the Via to come
        h.append("Max-Forwards", "70")
        h.append("From", NameAddr.appendingTag(id.localTag, to: localURI))
        h.append("To", NameAddr.appendingTag(id.remoteTag, to: remoteURI))
        h.append("Call-ID", id.callID)
        h.append("CSeq", "\(localSeq) \(method.rawValue)")
        for field in extra { h.append(field.name, field.value) }
        return SIPRequest(method: method, uri: target, headers: h, body: body)
    }

    /// RFC 3261 §12.2.2 matching without parsing: Call-ID, To tag = ours, From tag = theirs.
    func matches(_ request: SIPRequest) -> Bool {
        request.callID == id.callID && request.to?.tag == id.localTag && request.from?.tag == id.remoteTag
    }
}

/// One subscription held by the presence agent: the dialog it lives in (the agent is the
/// notifier, UAS of the SUBSCRIBE, RFC 6665 §4.2) and what the notifier must remember.
/// A class so that the indexes (by dialog, by presentity, by expiry) share one copy;
/// only ever touched under the agent's lock.
final class Subscription {
    /// The agent's key: our local tag (unique, unguessable: 60 random bits).
    let id: String
    let package: PresencePackage
    /// The presentity watched (`user@domain`).
    let presentity: String
    /// Who subscribed (`user@domain`): the authenticated user, else the From AOR.
    let watcher: String
    var dialog: StoredDialog
    /// The `Event` header's `id` parameter, echoed in NOTIFYs (RFC 6665 §8.2.1).
    let eventID: String?
    /// Absolute expiry, seconds since the Unix epoch.
    var expiresAt: Int64
    var status: SubscriptionStatus
    /// The access decision last applied (politely blocked watchers see "offline").
    var blocked: Bool
    /// Where NOTIFYs go: the flow the SUBSCRIBE came over, while it leads to the contact.
    var flowID: UInt64?
    var flowAddress: SIPHostPort?
    /// Our Contact for this dialog (a URI that routes back to this server).
    let contact: String
    /// RFC 6665 §4.2.2 throttling: at most `maxNotifiesInFlight` NOTIFYs in flight per
    /// subscription (1 by default; always one over UDP, where they could overtake each
    /// other); changes meanwhile wait in the backlog or coalesce into the latest state.
    var notifiesInFlight: UInt8 = 0
    var notifyWanted = false
    /// Presentity states that changed while no NOTIFY could go (window or hop full), oldest
    /// first, each sent in turn so the watcher sees every transition in order; bounded by
    /// ``PresenceAgent/Configuration/maxQueuedStatesPerSubscription``, past which the oldest
    /// give way (the burst coalesces, the latest state always stays). The bodies are the
    /// presentity's composed document, shared by all of its watchers.
    var backlog: [[UInt8]] = []
    /// The next hop its NOTIFYs last went to (``HopPacing``; 0 before the first), and
    /// whether it waits in that hop's queue.
    var hop: HopPacing.Hop = 0
    var waitingForHop = false
    /// NOTIFYs go over a transport that keeps them in order (TCP, TLS).
    var reliable = false
    /// NOTIFYs lost to the transport in a row (a connection closed or refused); a few are
    /// retried with the latest state before the subscription is given up.
    var transportFailures: UInt8 = 0
    /// RFC 3858 §4.4: the version of the last watcher-info document sent.
    var winfoVersion = 0
    /// The local CSeq last persisted (the journal writes it every few NOTIFYs, and a
    /// restore jumps past the gap, §12.2.2: CSeq numbers may have gaps).
    var persistedSeq: UInt32
    /// Its place in its presentity's watcher list, so that removing it costs no search.
    var slot = 0
    /// The second of the expiry index it is filed under (the earliest, when filed twice):
    /// a refresh that pushes the expiry later files nothing; the sweep re-files it then.
    var filedAt: Int64 = 0

    init(id: String, package: PresencePackage, presentity: String, watcher: String, dialog: StoredDialog, eventID: String?,
         expiresAt: Int64, status: SubscriptionStatus, blocked: Bool, flowID: UInt64?, flowAddress: SIPHostPort?,
         contact: String) {
        self.id = id
        self.package = package
        self.presentity = presentity
        self.watcher = watcher
        self.dialog = dialog
        self.eventID = eventID
        self.expiresAt = expiresAt
        self.status = status
        self.blocked = blocked
        self.flowID = flowID
        self.flowAddress = flowAddress
        self.contact = contact
        self.persistedSeq = dialog.localSeq
    }

    /// The persisted form (flows are not: their ids mean nothing after a restart).
    var record: SubscriptionRecord {
        SubscriptionRecord(
            id: id, event: package.rawValue + (eventID.map { ";id=\($0)" } ?? ""), presentity: presentity,
            watcher: watcher, callID: dialog.id.callID, localTag: dialog.id.localTag, remoteTag: dialog.id.remoteTag,
            localURI: dialog.localURI, remoteURI: dialog.remoteURI,
            remoteTarget: dialog.remoteTarget, routeSet: dialog.routeSet,
            localCSeq: dialog.localSeq, remoteCSeq: dialog.remoteSeq ?? 0, expiresAt: expiresAt, flow: nil,
            state: blocked ? "blocked" : status.rawValue, localContact: contact)
    }

    /// Rebuilds a persisted subscription (restart): the same dialog, the CSeq moved past any
    /// NOTIFY sent since the record was written.
    static func restore(_ r: SubscriptionRecord, seqJump: UInt32) -> Subscription? {
        let parts = r.event.split(separator: ";", maxSplits: 1)
        guard let first = parts.first, let package = PresencePackage(rawValue: String(first)) else { return nil }
        let eventID = parts.count > 1 && parts[1].hasPrefix("id=") ? String(parts[1].dropFirst(3)) : nil
        let dialog = StoredDialog(id: DialogID(callID: r.callID, localTag: r.localTag, remoteTag: r.remoteTag),
                                  localURI: r.localURI, remoteURI: r.remoteURI, remoteTarget: r.remoteTarget,
                                  routeSet: r.routeSet, localSeq: r.localCSeq &+ seqJump, remoteSeq: r.remoteCSeq,
                                  secure: false)
        guard dialog.dialog != nil else { return nil }
        let status: SubscriptionStatus = r.state == "pending" ? .pending : .active
        return Subscription(
            id: r.id, package: package, presentity: r.presentity, watcher: r.watcher, dialog: dialog, eventID: eventID,
            expiresAt: r.expiresAt, status: status, blocked: r.state == "blocked",
            flowID: nil, flowAddress: nil, contact: r.localContact ?? "")
    }

}

/// One RFC 3903 publication of a presentity's state by one of its devices.
struct Publication {
    var etag: String
    let presentity: String
    var expiresAt: Int64
    var document: PIDFDocument
    var body: [UInt8]
    var publishedAt: Int64
    /// Order of arrival (composition puts the newest last).
    var sequence: UInt64

    var record: PublicationRecord {
        PublicationRecord(etag: etag, presentity: presentity, expiresAt: expiresAt,
                          contentType: PresenceContentType.pidf, body: body, publishedAt: publishedAt)
    }
}
