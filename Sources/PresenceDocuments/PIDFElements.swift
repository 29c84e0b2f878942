// The parts of a PIDF document: tuples (RFC 3863 §4.1) and persons (RFC 4479 §3.1, with
// RFC 4480 activities). Each keeps its element, so that extensions survive; the typed
// properties read and write that element.

/// The namespace URIs of the presence documents.
public enum PresenceNamespace {
    /// RFC 3863 §4: PIDF.
    public static let pidf = "urn:ietf:params:xml:ns:pidf"
    /// RFC 4479 §4: the presence data model (`dm:person`, `dm:device`, `dm:note`).
    public static let dataModel = "urn:ietf:params:xml:ns:pidf:data-model"
    /// RFC 4480 §6: rich presence (`rpid:activities`, ...).
    public static let rpid = "urn:ietf:params:xml:ns:pidf:rpid"
    /// RFC 4482 §3: contact information (`c:display-name`, `c:homepage`, ...).
    public static let cipid = "urn:ietf:params:xml:ns:pidf:cipid"
    /// RFC 3858 §4: watcher information.
    public static let watcherInfo = "urn:ietf:params:xml:ns:watcherinfo"
}

/// RFC 3863 §4.1.4: the `basic` status of a tuple.
public enum BasicStatus: String, Hashable, Sendable, CaseIterable {
    case open
    case closed
}

/// RFC 3863 §4.1: a `tuple`, one way of reaching the presentity (a registered device, a
/// service). `element` is the tuple itself; the other properties are views of it.
public struct PresenceTuple: Hashable, Sendable {
    public var element: XML.Element

    /// A tuple, validated: it has a non-empty `id` and a `status` (RFC 3863 §4.1.1-4.1.2),
    /// and its `basic`, if present, is `open` or `closed` (§4.1.4).
    public init(element: XML.Element) throws(PresenceDocumentError) {
        guard element.isNamed("tuple", in: PresenceNamespace.pidf) else {
            throw PresenceDocumentError(.invalidValue, "not a PIDF tuple: \(element.name)")
        }
        guard let id = element.attribute("id"), !XML.trimmed(id).isEmpty else {
            throw PresenceDocumentError(.missingAttribute, "tuple without an id (RFC 3863 §4.1.1)")
        }
        guard let status = element.firstElement("status", in: PresenceNamespace.pidf) else {
            throw PresenceDocumentError(.missingElement, "tuple \(id) without a status (RFC 3863 §4.1.2)")
        }
        if let basic = status.firstElement("basic", in: PresenceNamespace.pidf), BasicStatus(rawValue: basic.trimmedText) == nil {
            throw PresenceDocumentError(.invalidValue, "tuple \(id): basic is \"\(basic.trimmedText)\", not open or closed (RFC 3863 §4.1.4)")
        }
        self.element = element
    }

    /// A tuple built from its parts, in the RFC 3863 §4.1 order (status, contact, note, timestamp).
    public init(id: String, basic: BasicStatus?, contact: String? = nil, notes: [String] = [], timestamp: String? = nil) {
        element = XML.Element(namespace: PresenceNamespace.pidf, name: "tuple",
                              attributes: [XML.Attribute(name: "id", value: id)],
                              children: [.element(XML.Element(namespace: PresenceNamespace.pidf, name: "status"))])
        self.basic = basic
        self.contact = contact
        self.notes = notes
        self.timestamp = timestamp
    }

    /// §4.1.1: unique within the document.
    public var id: String {
        get { element.attribute("id") ?? "" }
        set { element.setAttribute("id", to: newValue) }
    }

    /// §4.1.4: open (reachable) or closed; nil when the status has no `basic`.
    public var basic: BasicStatus? {
        get { status.firstElement("basic", in: PresenceNamespace.pidf).flatMap { BasicStatus(rawValue: $0.trimmedText) } }
        set {
            var status = self.status
            let basic = newValue.map { XML.Element(namespace: PresenceNamespace.pidf, name: "basic", text: $0.rawValue) }
            status.replaceElements("basic", in: PresenceNamespace.pidf, with: basic.map { [$0] } ?? [], fallbackIndex: 0)
            self.status = status
        }
    }

    /// §4.1.5: the contact address (a URI), trimmed.
    public var contact: String? {
        get { element.firstElement("contact", in: PresenceNamespace.pidf)?.trimmedText }
        set {
            let contact = newValue.map { XML.Element(namespace: PresenceNamespace.pidf, name: "contact", text: $0) }
            element.replaceElements("contact", in: PresenceNamespace.pidf, with: contact.map { [$0] } ?? [],
                                    fallbackIndex: index(after: "status"))
        }
    }

    /// §4.1.5: the contact's `priority` (0 to 1), if given.
    public var contactPriority: Double? {
        element.firstElement("contact", in: PresenceNamespace.pidf)?.attribute("priority").flatMap { Double($0) }
    }

    /// §4.1.6: the tuple's notes (their `xml:lang` stays in `element`).
    public var notes: [String] {
        get { element.elements("note", in: PresenceNamespace.pidf).map(\.text) }
        set {
            element.replaceElements("note", in: PresenceNamespace.pidf,
                                    with: newValue.map { XML.Element(namespace: PresenceNamespace.pidf, name: "note", text: $0) },
                                    fallbackIndex: index(after: "contact", "status"))
        }
    }

    /// §4.1.7: when the status last changed (an RFC 3339 date-time), kept as sent.
    public var timestamp: String? {
        get { element.firstElement("timestamp", in: PresenceNamespace.pidf)?.trimmedText }
        set {
            let timestamp = newValue.map { XML.Element(namespace: PresenceNamespace.pidf, name: "timestamp", text: $0) }
            element.replaceElements("timestamp", in: PresenceNamespace.pidf, with: timestamp.map { [$0] } ?? [])
        }
    }

    private var status: XML.Element {
        get { element.firstElement("status", in: PresenceNamespace.pidf) ?? XML.Element(namespace: PresenceNamespace.pidf, name: "status") }
        set { element.replaceElements("status", in: PresenceNamespace.pidf, with: [newValue], fallbackIndex: 0) }
    }

    /// The index just after the last child named one of `names` (tried in order), else 0 or
    /// the end: keeps built tuples in the schema's order.
    private func index(after names: String...) -> Int? {
        for name in names {
            if let i = element.children.lastIndex(where: { if case .element(let e) = $0 { e.isNamed(name, in: PresenceNamespace.pidf) } else { false } }) {
                return i + 1
            }
        }
        return nil
    }
}

/// RFC 4479 §3.1: a `dm:person`, the human behind the presentity, with its RFC 4480
/// activities. `element` is the person itself; the other properties are views of it.
public struct PresencePerson: Hashable, Sendable {
    public var element: XML.Element

    /// The activities RFC 4480 §3.2 defines; any other is written as `<rpid:other>`.
    public static let rpidActivities: Set<String> = [
        "appointment", "away", "breakfast", "busy", "dinner", "holiday", "in-transit", "looking-for-work",
        "meal", "meeting", "on-the-phone", "performance", "permanent-absence", "playing", "presentation",
        "shopping", "sleeping", "spectator", "steering", "travel", "tv", "unknown", "vacation", "working", "worship",
    ]

    public init(element: XML.Element) {
        self.element = element
    }

    public init(id: String, activities: [String] = [], notes: [String] = []) {
        element = XML.Element(namespace: PresenceNamespace.dataModel, name: "person",
                              attributes: [XML.Attribute(name: "id", value: id)])
        self.activities = activities
        self.notes = notes
    }

    /// RFC 4479 §3.1: the person's `id` (required by the schema; tolerated when absent).
    public var id: String? {
        get { element.attribute("id") }
        set { element.setAttribute("id", to: newValue) }
    }

    /// RFC 4480 §3.2: the local names of the `rpid:activities` children (`away`, `busy`,
    /// `on-the-phone`, `meal`, ...), and for `<rpid:other>` its text. Setting writes each
    /// RFC 4480 name as an empty element and anything else as `<rpid:other>text</rpid:other>`;
    /// an empty array removes the `rpid:activities` element.
    public var activities: [String] {
        get {
            guard let list = element.firstElement("activities", in: PresenceNamespace.rpid) else { return [] }
            return list.elements.compactMap { activity in
                guard activity.namespace == PresenceNamespace.rpid, activity.name != "note" else { return nil }
                if activity.name == "other" {
                    let text = activity.trimmedText
                    return text.isEmpty ? "other" : text
                }
                return activity.name
            }
        }
        set {
            let children = newValue.map { name -> XML.Node in
                .element(Self.rpidActivities.contains(name)
                         ? XML.Element(namespace: PresenceNamespace.rpid, name: name)
                         : XML.Element(namespace: PresenceNamespace.rpid, name: "other", text: name))
            }
            let list = newValue.isEmpty ? [] : [XML.Element(namespace: PresenceNamespace.rpid, name: "activities", children: children)]
            element.replaceElements("activities", in: PresenceNamespace.rpid, with: list, fallbackIndex: 0)
        }
    }

    /// RFC 4479 §3.1: the person's notes (`dm:note`; a PIDF `note` is read too).
    public var notes: [String] {
        get {
            element.elements.filter {
                $0.name == "note" && ($0.namespace == PresenceNamespace.dataModel || $0.namespace == PresenceNamespace.pidf)
            }.map(\.text)
        }
        set {
            element.removeElements("note", in: PresenceNamespace.pidf)
            element.replaceElements("note", in: PresenceNamespace.dataModel,
                                    with: newValue.map { XML.Element(namespace: PresenceNamespace.dataModel, name: "note", text: $0) })
        }
    }
}
