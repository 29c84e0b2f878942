import Store

/// The bodies of LCS 2003's self-subscriptions and SERVICE answers, as Pidgin's SIMPLE
/// protocol and pidgin-sipe read them. Elements carry no namespace and attributes no
/// prefix: both clients match on local names.
public enum RoamingDocuments {
    public static let contactsContentType = "application/vnd-microsoft-roaming-contacts+xml"
    public static let aclContentType = "application/vnd-microsoft-roaming-acls+xml"
    public static let wpendingContentType = "text/xml+msrtc.wpending"
    public static let soapContentType = "application/SOAP+xml"

    /// `<contactList deltaNum="N"><group id="1" name="Friends"/><contact uri="bob@example.com"
    /// name="Bob" groups="1" subscribed="true"/></contactList>`: contact URIs without `sip:`
    /// (Pidgin adds it), groups as space-separated ids. Pidgin files every contact under the
    /// first group, sipe under each of its groups.
    public static func contactList(_ list: ContactList) -> [UInt8] {
        var root = XML.Element(namespace: nil, name: "contactList",
                               attributes: [XML.Attribute(name: "deltaNum", value: "\(list.deltaNum)")])
        for group in list.groups {
            root.children.append(.element(XML.Element(namespace: nil, name: "group", attributes: [
                XML.Attribute(name: "id", value: "\(group.id)"), XML.Attribute(name: "name", value: group.name),
            ])))
        }
        for contact in list.contacts {
            root.children.append(.element(XML.Element(namespace: nil, name: "contact", attributes: [
                XML.Attribute(name: "uri", value: contact.uri), XML.Attribute(name: "name", value: contact.name),
                XML.Attribute(name: "groups", value: contact.groups.map(String.init).joined(separator: " ")),
                XML.Attribute(name: "subscribed", value: contact.subscribed ? "true" : "false"),
            ])))
        }
        return XML.serialize(root)
    }

    /// `<acl deltaNum="N"><ace type="USER" mask="sip:bob@example.com" rights="AA"/></acl>`:
    /// the user's access list (AA allow, BD block); `deltaNum` is the store's ACL generation.
    public static func acl(_ entries: [AccessEntry], deltaNum: Int64) -> [UInt8] {
        var root = XML.Element(namespace: nil, name: "acl", attributes: [XML.Attribute(name: "deltaNum", value: "\(deltaNum)")])
        for entry in entries {
            root.children.append(.element(XML.Element(namespace: nil, name: "ace", attributes: [
                XML.Attribute(name: "type", value: "USER"), XML.Attribute(name: "mask", value: "sip:" + entry.watcher),
                XML.Attribute(name: "rights", value: entry.rule == .allow ? "AA" : "BD"),
            ])))
        }
        return XML.serialize(root)
    }

    /// `<watchers><watcher uri="sip:carol@example.com" displayName=""/></watchers>`: who waits
    /// for the user's consent (`presence.wpending`).
    public static func pendingWatchers(_ watchers: [String]) -> [UInt8] {
        var root = XML.Element(namespace: nil, name: "watchers")
        for watcher in watchers {
            root.children.append(.element(XML.Element(namespace: nil, name: "watcher", attributes: [
                XML.Attribute(name: "uri", value: "sip:" + watcher), XML.Attribute(name: "displayName", value: ""),
            ])))
        }
        return XML.serialize(root)
    }

    /// A SOAP answer: `Envelope/Body/<operation>` holding `arguments` as child elements, then
    /// `extra` elements of the Body (a search's `Array`).
    static func soap(_ operation: String, _ arguments: [(String, String)], extra: [XML.Element] = []) -> [UInt8] {
        let ns = SOAPOperation.namespace
        var op = XML.Element(namespace: ns, name: operation)
        for (name, value) in arguments { op.children.append(.element(XML.Element(namespace: ns, name: name, text: value))) }
        let body = XML.Element(namespace: SOAPOperation.envelopeNamespace, name: "Body",
                               children: [.element(op)] + extra.map(XML.Node.element))
        return XML.serialize(XML.Element(namespace: SOAPOperation.envelopeNamespace, name: "Envelope", children: [.element(body)]))
    }

    /// The answer to a contact-list operation: `Body/<operation>/deltaNum`, and for addGroup
    /// `Body/addGroup/groupID` (sipe reads the new group's id there).
    public static func contactsAnswer(_ operation: String, update: ContactListUpdate) -> [UInt8] {
        var arguments: [(String, String)] = []
        if let id = update.addedGroupID { arguments.append(("groupID", "\(id)")) }
        arguments.append(("deltaNum", "\(update.list.deltaNum)"))
        return soap(operation, arguments)
    }

    /// The answer to a search ([MS-PRES] §2.2.1): `Body/directorySearch/moreAvailable`, and
    /// `Body/Array/row` elements with uri, displayName, title, office, phone, company, email.
    public static func searchAnswer(_ entries: [DirectoryEntry], more: Bool) -> [UInt8] {
        let ns = SOAPOperation.namespace
        var array = XML.Element(namespace: ns, name: "Array")
        for entry in entries {
            array.children.append(.element(XML.Element(namespace: ns, name: "row", attributes: [
                XML.Attribute(name: "uri", value: "sip:" + entry.aor),
                XML.Attribute(name: "displayName", value: entry.displayName),
                XML.Attribute(name: "title", value: entry.title), XML.Attribute(name: "office", value: entry.office),
                XML.Attribute(name: "phone", value: entry.phone), XML.Attribute(name: "company", value: entry.company),
                XML.Attribute(name: "email", value: entry.email),
            ])))
        }
        return soap("directorySearch", [("moreAvailable", more ? "true" : "false")], extra: [array])
    }
}
