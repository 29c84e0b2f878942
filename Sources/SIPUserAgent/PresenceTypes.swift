import PresenceDocuments

/// A presence state as Live Communications Server 2003 clients show it, on RFC 4480 rich
/// presence (the mapping is PresenceDocuments' `LCSState`): what
/// ``SIPUserAgent/publish(state:note:)`` publishes and what a watch reports.
public enum PresenceStatus: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// Basic open, no activity.
    case online
    /// Open with `<rpid:busy/>`.
    case busy
    /// Open with `<rpid:away/>` and the `other` activity `be-right-back`.
    case beRightBack = "be-right-back"
    /// Open with `<rpid:away/>`.
    case away
    /// Open with `<rpid:on-the-phone/>`.
    case onThePhone = "on-the-phone"
    /// Open with `<rpid:meal/>`.
    case outToLunch = "out-to-lunch"
    /// Basic closed: signed out, or appearing offline.
    case offline

    public var description: String { rawValue }

    var lcsState: LCSState {
        switch self {
        case .online: .online
        case .busy: .busy
        case .beRightBack: .beRightBack
        case .away: .away
        case .onThePhone: .onThePhone
        case .outToLunch: .outToLunch
        case .offline: .appearOffline
        }
    }

    /// The status a PIDF summary shows; open with activities no status stands for is online.
    init(summary: PresenceSummary) {
        switch LCSState(summary: summary) {
        case .online, nil: self = summary.basic == .open ? .online : .offline
        case .busy: self = .busy
        case .beRightBack: self = .beRightBack
        case .away: self = .away
        case .onThePhone: self = .onThePhone
        case .outToLunch: self = .outToLunch
        case .appearOffline: self = .offline
        }
    }
}

/// The state of a subscription (RFC 6665 §4.1.3, `Subscription-State`).
public enum SubscriptionState: String, Hashable, Sendable {
    /// The notifier sends state.
    case active
    /// The presentity has not decided yet whether we may watch (RFC 3857): no state.
    case pending
    /// The subscription is over (the last notification).
    case terminated
}

/// What a watched presentity shows, from one NOTIFY (RFC 3856) parsed as PIDF/RPID
/// (RFC 3863, RFC 4480). Printed as `bob@example.com online "in a meeting"`.
public struct PresenceState: Hashable, Sendable, CustomStringConvertible {
    /// The presentity watched, `bob@example.com`.
    public var aor: String
    /// The status the document shows (``PresenceStatus/offline`` while pending).
    public var status: PresenceStatus
    /// The RFC 4480 activities as published (`away`, `meeting`, ...).
    public var activities: [String]
    /// The first note of the document (a person's, else a tuple's, else the document's).
    public var note: String?
    /// Whether the subscription is active, pending or over.
    public var subscriptionState: SubscriptionState

    public init(aor: String, status: PresenceStatus, activities: [String] = [], note: String? = nil,
                subscriptionState: SubscriptionState = .active) {
        self.aor = aor
        self.status = status
        self.activities = activities
        self.note = note
        self.subscriptionState = subscriptionState
    }

    public var description: String {
        if subscriptionState == .pending { return "\(aor) pending" }
        var line = "\(aor) \(status)"
        if let note { line += " \"\(note)\"" }
        if subscriptionState == .terminated { line += " (subscription ended)" }
        return line
    }
}

/// One watcher of our own presence, from watcher information (RFC 3857, RFC 3858).
public struct WatcherEntry: Hashable, Sendable, CustomStringConvertible {
    /// The watcher's status (RFC 3858 §4.3).
    public enum Status: String, Hashable, Sendable {
        /// Waiting for our decision (`sipctl acl allow|block`).
        case pending
        /// Watching.
        case active
        /// Tried to subscribe and was not allowed yet (a polite wait).
        case waiting
        /// No longer subscribed.
        case terminated
    }
    /// The watcher's URI, `sip:carol@example.com`.
    public var uri: String
    public var status: Status
    /// The watcher info `id` of this watcher (stable across notifications).
    public var id: String
    /// The event that last changed it (`subscribe`, `approved`, ...).
    public var event: String

    public init(uri: String, status: Status, id: String, event: String) {
        self.uri = uri
        self.status = status
        self.id = id
        self.event = event
    }

    public var description: String { "\(uri) \(status.rawValue)" }
}
