/// RFC 3863 PIDF (`application/pidf+xml`) with the RFC 4479 data model and RFC 4480 rich
/// presence: one presentity's `presence` element.
///
/// Tuples and persons keep their elements, so extensions inside them survive a round trip.
/// Children of `presence` that are neither tuple, note, person nor device are kept in
/// `extensions`. Serializing writes tuples, notes, persons, devices, then extensions (the
/// RFC 3863 §4.1 schema order: tuples, notes, then other namespaces).
public struct PIDFDocument: Hashable, Sendable {
    /// RFC 3863 §4.1.1: the presentity's URI (`pres:` or `sip:`).
    public var entity: String
    /// §4.1: the tuples, in order.
    public var tuples: [PresenceTuple]
    /// RFC 4479 §3.1: the `dm:person` elements.
    public var persons: [PresencePerson]
    /// RFC 4479 §3.3: the `dm:device` elements, kept as they came.
    public var devices: [XML.Element]
    /// Other children of `presence` (unknown extensions), kept as they came.
    public var extensions: [XML.Element]
    /// Attributes of `presence` other than `entity` (extensions), kept as they came.
    public var otherAttributes: [XML.Attribute]
    /// The document-level `note` elements (their `xml:lang` is kept).
    var noteElements: [XML.Element]

    public init(entity: String, tuples: [PresenceTuple] = [], persons: [PresencePerson] = [], devices: [XML.Element] = [],
                notes: [String] = [], extensions: [XML.Element] = [], otherAttributes: [XML.Attribute] = []) {
        self.entity = entity
        self.tuples = tuples
        self.persons = persons
        self.devices = devices
        self.extensions = extensions
        self.otherAttributes = otherAttributes
        self.noteElements = []
        self.notes = notes
    }

    /// §4.1.6: the document-level notes.
    public var notes: [String] {
        get { noteElements.map(\.text) }
        set { noteElements = newValue.map { XML.Element(namespace: PresenceNamespace.pidf, name: "note", text: $0) } }
    }

    /// Parses and validates a PIDF body: within `limits` (see `XML.parse`), well-formed,
    /// root `presence` in `urn:ietf:params:xml:ns:pidf` (RFC 3863 §4.1), a non-empty
    /// `entity`, every tuple with an `id` and a `status` (§4.1.1-4.1.2) and a `basic`, if
    /// any, of `open` or `closed` (§4.1.4). Errors answer 400, or 413 for an oversized body.
    public static func parse(_ body: [UInt8], limits: XML.Limits = .default) throws(PresenceDocumentError) -> PIDFDocument {
        try PIDFDocument(element: XML.parse(body, limits: limits))
    }

    /// The document of a parsed `presence` element, validated as `parse` does.
    public init(element root: XML.Element) throws(PresenceDocumentError) {
        guard root.isNamed("presence", in: PresenceNamespace.pidf) else {
            throw PresenceDocumentError(.wrongRoot, "root is \(root.name) in \(root.namespace ?? "no namespace"), "
                                        + "not presence in \(PresenceNamespace.pidf) (RFC 3863 §4.1)")
        }
        guard let entity = root.attribute("entity"), !XML.trimmed(entity).isEmpty else {
            throw PresenceDocumentError(.missingAttribute, "presence without an entity (RFC 3863 §4.1.1)")
        }
        self.init(entity: XML.trimmed(entity))
        otherAttributes = root.attributes.filter { !($0.name == "entity" && $0.namespace == nil) }
        for child in root.elements {
            switch (child.namespace, child.name) {
            case (PresenceNamespace.pidf, "tuple"): tuples.append(try PresenceTuple(element: child))
            case (PresenceNamespace.pidf, "note"): noteElements.append(child)
            case (PresenceNamespace.dataModel, "person"): persons.append(PresencePerson(element: child))
            case (PresenceNamespace.dataModel, "device"): devices.append(child)
            default: extensions.append(child)
            }
        }
    }

    /// The document as one `presence` element (the inverse of `init(element:)`).
    public var element: XML.Element {
        var children: [XML.Node] = []
        children.reserveCapacity(tuples.count + noteElements.count + persons.count + devices.count + extensions.count)
        children += tuples.map { .element($0.element) }
        children += noteElements.map(XML.Node.element)
        children += persons.map { .element($0.element) }
        children += devices.map(XML.Node.element)
        children += extensions.map(XML.Node.element)
        return XML.Element(namespace: PresenceNamespace.pidf, name: "presence",
                           attributes: [XML.Attribute(name: "entity", value: entity)] + otherAttributes, children: children)
    }

    /// The body: `<?xml version="1.0" encoding="UTF-8"?>` and the document, PIDF as the
    /// default namespace, `rpid`, `dm`, `c` and `ns1`... declared once on the root.
    public func serialized() -> [UInt8] {
        XML.serialize(element)
    }
}

// MARK: - Documents the presence agent writes itself

extension PIDFDocument {
    /// One tuple, basic closed, no person: what a watcher sees of a presentity that is
    /// offline, or that blocks the watcher politely (indistinguishable by design).
    public static func closed(entity: String, tupleID: String = "offline") -> PIDFDocument {
        PIDFDocument(entity: entity, tuples: [PresenceTuple(id: tupleID, basic: .closed)])
    }

    /// One tuple, basic open: a registered client that never publishes (RFC 3856 §6.6: the
    /// agent may compose presence from registrations).
    public static func open(entity: String, tupleID: String, contact: String?) -> PIDFDocument {
        PIDFDocument(entity: entity, tuples: [PresenceTuple(id: tupleID, basic: .open, contact: contact)])
    }
}

// MARK: - Summary

/// The gist of a PIDF document, for logs and the user-agent API.
public struct PresenceSummary: Hashable, Sendable, CustomStringConvertible {
    /// Open if any tuple is open, else closed.
    public var basic: BasicStatus
    /// The persons' RFC 4480 activities, in order, without repeats.
    public var activities: [String]
    /// The first person note, else the first tuple note, else the first document note.
    public var note: String?

    public init(basic: BasicStatus, activities: [String] = [], note: String? = nil) {
        self.basic = basic
        self.activities = activities
        self.note = note
    }

    public var description: String {
        var text = basic.rawValue
        if !activities.isEmpty { text += " (" + activities.joined(separator: ", ") + ")" }
        if let note { text += " \"" + note + "\"" }
        return text
    }
}

extension PIDFDocument {
    /// `basic` open if any tuple is open, the persons' activities, and the first note found
    /// on a person, else on a tuple, else on the document.
    public var summary: PresenceSummary {
        var activities: [String] = []
        for person in persons { for a in person.activities where !activities.contains(a) { activities.append(a) } }
        let note = persons.lazy.compactMap { $0.notes.first }.first
            ?? tuples.lazy.compactMap { $0.notes.first }.first
            ?? notes.first
        return PresenceSummary(basic: tuples.contains { $0.basic == .open } ? .open : .closed,
                               activities: activities, note: note)
    }
}
