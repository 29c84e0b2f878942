/// The presence states of Live Communications Server 2003 clients (Windows Messenger 5,
/// Communicator), mapped onto PIDF with RFC 4480 activities so that any SIP client reads
/// them and they come back unchanged.
///
/// | state          | basic  | `rpid:activities`                                      |
/// |----------------|--------|--------------------------------------------------------|
/// | online         | open   | none                                                   |
/// | busy           | open   | `<rpid:busy/>`                                         |
/// | beRightBack    | open   | `<rpid:away/><rpid:other>be-right-back</rpid:other>`   |
/// | away           | open   | `<rpid:away/>`                                         |
/// | onThePhone     | open   | `<rpid:on-the-phone/>`                                 |
/// | outToLunch     | open   | `<rpid:meal/>`                                         |
/// | appearOffline  | closed | none, and no person (the same as `PIDFDocument.closed`) |
///
/// RFC 4480 §3.2 has no "be right back": it is a short absence, so `away` (which any RPID
/// client shows) plus the `other` activity that names it (which brings back this state);
/// the schema allows both together. "Out to lunch" is `meal` (RFC 4480: "the person is
/// scheduled for a meal"; there is no lunch activity).
public enum LCSState: String, CaseIterable, Sendable {
    case online
    case busy
    case beRightBack
    case away
    case onThePhone
    case outToLunch
    case appearOffline

    /// The text of the `rpid:other` activity that marks "be right back".
    public static let beRightBackActivity = "be-right-back"

    /// The RFC 4480 activities of this state (see the table above).
    public var activities: [String] {
        switch self {
        case .online, .appearOffline: []
        case .busy: ["busy"]
        case .beRightBack: ["away", Self.beRightBackActivity]
        case .away: ["away"]
        case .onThePhone: ["on-the-phone"]
        case .outToLunch: ["meal"]
        }
    }

    /// This state as a PIDF document: one tuple (`tupleID`, carrying `note` as its note,
    /// which every PIDF client reads) and, when the state has activities, one person
    /// `p-<tupleID>` carrying them. `appearOffline` is `PIDFDocument.closed` exactly: no
    /// note, no person, nothing that tells a watcher the user is there.
    public func document(entity: String, tupleID: String, note: String? = nil) -> PIDFDocument {
        if self == .appearOffline { return .closed(entity: entity, tupleID: tupleID) }
        let tuple = PresenceTuple(id: tupleID, basic: .open, notes: note.map { [$0] } ?? [])
        let persons = activities.isEmpty ? [] : [PresencePerson(id: "p-" + tupleID, activities: activities)]
        return PIDFDocument(entity: entity, tuples: [tuple], persons: persons)
    }

    /// The state a summary shows, by the table above read backwards, and for activities of
    /// other clients: `meeting`, `appointment`, `presentation`, `performance` read as busy;
    /// `breakfast`, `dinner` as out to lunch; `vacation`, `holiday`, `travel`, `in-transit`,
    /// `permanent-absence`, `sleeping` as away; `other` "be right back"/"brb" as be right back.
    /// Precedence: on the phone, busy, be right back, out to lunch, away. Basic closed is
    /// appear offline; open with no activity (or only `unknown`) is online. Nil when the only
    /// activities are ones no state stands for (`working`, `shopping`, ...).
    public init?(summary: PresenceSummary) {
        if summary.basic == .closed { self = .appearOffline; return }
        let activities = Set(summary.activities.map { $0.lowercased() })
        func any(_ names: String...) -> Bool { names.contains { activities.contains($0) } }
        if any("on-the-phone") {
            self = .onThePhone
        } else if any("busy", "meeting", "appointment", "presentation", "performance") {
            self = .busy
        } else if any(Self.beRightBackActivity, "be right back", "brb") {
            self = .beRightBack
        } else if any("meal", "breakfast", "dinner") {
            self = .outToLunch
        } else if any("away", "vacation", "holiday", "travel", "in-transit", "permanent-absence", "sleeping") {
            self = .away
        } else if activities.subtracting(["unknown"]).isEmpty {
            self = .online
        } else {
            return nil
        }
    }
}
