import Store

/// `contactDelta` ([MS-SIP] roaming contacts): the changes from one version of a user's
/// contact list to the next, NOTIFYed instead of the whole list to a device whose deltaNum the
/// server knows. pidgin-sipe 1.25 reads these elements (their names are in its binary):
///
/// ```xml
/// <contactDelta deltaNum="7" prevDeltaNum="5">
///   <addedGroup id="3" name="Work"/>
///   <modifiedGroup id="1" name="Family"/>
///   <deletedGroup id="2"/>
///   <addedContact uri="carol@example.com" name="Carol" groups="3" subscribed="true"/>
///   <modifiedContact uri="bob@example.com" name="Bobby" groups="1" subscribed="true"/>
///   <deletedContact uri="dave@example.com"/>
/// </contactDelta>
/// ```
/// Contact URIs without `sip:` and groups as space-separated ids, as in the full list.
enum ContactDelta {
    /// The delta from `old` to `new` (the same user's list, `old.deltaNum < new.deltaNum`).
    static func document(from old: ContactList, to new: ContactList) -> [UInt8] {
        var root = XML.Element(namespace: nil, name: "contactDelta", attributes: [
            XML.Attribute(name: "deltaNum", value: "\(new.deltaNum)"),
            XML.Attribute(name: "prevDeltaNum", value: "\(old.deltaNum)"),
        ])
        func append(_ name: String, _ attributes: [(String, String)]) {
            root.children.append(.element(XML.Element(namespace: nil, name: name,
                                                      attributes: attributes.map { XML.Attribute(name: $0.0, value: $0.1) })))
        }
        let oldGroups = Dictionary(old.groups.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let newGroups = Dictionary(new.groups.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        for group in new.groups {
            if let before = oldGroups[group.id] {
                if before != group { append("modifiedGroup", [("id", "\(group.id)"), ("name", group.name)]) }
            } else {
                append("addedGroup", [("id", "\(group.id)"), ("name", group.name)])
            }
        }
        for group in old.groups where newGroups[group.id] == nil { append("deletedGroup", [("id", "\(group.id)")]) }
        let oldContacts = Dictionary(old.contacts.map { ($0.uri, $0) }, uniquingKeysWith: { a, _ in a })
        let newContacts = Dictionary(new.contacts.map { ($0.uri, $0) }, uniquingKeysWith: { a, _ in a })
        for contact in new.contacts {
            let before = oldContacts[contact.uri]
            guard before != contact else { continue }
            append(before == nil ? "addedContact" : "modifiedContact", [
                ("uri", contact.uri), ("name", contact.name),
                ("groups", contact.groups.map(String.init).joined(separator: " ")),
                ("subscribed", contact.subscribed ? "true" : "false"),
            ])
        }
        for contact in old.contacts where newContacts[contact.uri] == nil { append("deletedContact", [("uri", contact.uri)]) }
        return XML.serialize(root)
    }

    /// The `deltaNum` argument of a SERVICE's SOAP operation: the version of the list the
    /// device holds (nil when absent or not a number).
    static func clientDeltaNum(_ body: [UInt8]) -> Int64? {
        guard let root = try? XML.parse(body, limits: SOAPOperation.limits),
              let soapBody = root.firstElement("Body", in: SOAPOperation.envelopeNamespace) else { return nil }
        for operation in soapBody.elements where operation.namespace == SOAPOperation.namespace {
            if let text = SOAPOperation.argument(operation, "deltaNum"), let value = Int64(text), value >= 0 { return value }
        }
        return nil
    }
}
