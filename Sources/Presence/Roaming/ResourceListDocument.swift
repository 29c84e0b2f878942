/// The state of one member of a resource list, as its back-end subscription would see it.
public enum ResourceState: Hashable, Sendable {
    /// Authorized: its presence document (PIDF).
    case active([UInt8])
    /// Waiting for the member's consent (RFC 4662 §5.2 `state="pending"`, no document).
    case pending
    /// No state here: a member homed elsewhere (its back-end subscription is not made by
    /// this server yet), or not a user at all. Listed without an instance.
    case unknown
}

/// RFC 4662 §5: the body of a NOTIFY on a list subscription: `multipart/related` (RFC 2387)
/// whose first part, the root, is the RLMI document (`application/rlmi+xml`), followed by one
/// `application/pidf+xml` part per active instance, each with the `Content-Id` the RLMI
/// `cid` names. As liblinphone reads it (and Flexisip writes it): the `Content-Id` values
/// carry no angle brackets.
public struct ResourceListNotification: Sendable {
    public struct Member: Sendable {
        public var uri: String
        public var name: String
        public var state: ResourceState

        public init(uri: String, name: String, state: ResourceState) {
            self.uri = uri
            self.name = name
            self.state = state
        }
    }

    public static let rlmiNamespace = "urn:ietf:params:xml:ns:rlmi"

    /// The list's URI, its version (RFC 4662 §5.3: one more per NOTIFY), full or partial state.
    public var listURI: String
    public var version: Int
    public var fullState: Bool
    public var members: [Member]
    /// Makes the part ids unique per NOTIFY (a random token of the subscription).
    public var idPrefix: String

    public init(listURI: String, version: Int, fullState: Bool, members: [Member], idPrefix: String) {
        self.listURI = listURI
        self.version = version
        self.fullState = fullState
        self.members = members
        self.idPrefix = idPrefix
    }

    public var boundary: String { "rlmi-\(idPrefix)-\(version)" }
    var rootID: String { "\(idPrefix).\(version).list@rls" }

    /// The NOTIFY's Content-Type (RFC 4662 §5.1: type and start name the RLMI root).
    public var contentType: String {
        "multipart/related;type=\"application/rlmi+xml\";start=\"<\(rootID)>\";boundary=\(boundary)"
    }

    /// The RLMI document (RFC 4662 §5.2) alone.
    public func rlmi() -> [UInt8] {
        let ns = Self.rlmiNamespace
        var root = XML.Element(namespace: ns, name: "list", attributes: [
            XML.Attribute(name: "uri", value: listURI), XML.Attribute(name: "version", value: "\(version)"),
            XML.Attribute(name: "fullState", value: fullState ? "true" : "false"),
        ])
        for (index, member) in members.enumerated() {
            var resource = XML.Element(namespace: ns, name: "resource", attributes: [XML.Attribute(name: "uri", value: member.uri)])
            if !member.name.isEmpty { resource.children.append(.element(XML.Element(namespace: ns, name: "name", text: member.name))) }
            switch member.state {
            case .active:
                resource.children.append(.element(XML.Element(namespace: ns, name: "instance", attributes: [
                    XML.Attribute(name: "id", value: "i\(index)"), XML.Attribute(name: "state", value: "active"),
                    XML.Attribute(name: "cid", value: partID(index)),
                ])))
            case .pending:
                resource.children.append(.element(XML.Element(namespace: ns, name: "instance", attributes: [
                    XML.Attribute(name: "id", value: "i\(index)"), XML.Attribute(name: "state", value: "pending"),
                ])))
            case .unknown:
                break
            }
            root.children.append(.element(resource))
        }
        return XML.serialize(root)
    }

    func partID(_ index: Int) -> String { "\(idPrefix).\(version).\(index)@rls" }

    /// The whole multipart body.
    public func body() -> [UInt8] {
        var out: [UInt8] = []
        func part(_ id: String, _ type: String, _ content: [UInt8]) {
            out += Array("--\(boundary)\r\nContent-Transfer-Encoding: binary\r\nContent-Id: \(id)\r\nContent-Type: \(type)\r\n\r\n".utf8)
            out += content
            out += Array("\r\n".utf8)
        }
        part(rootID, "application/rlmi+xml;charset=\"UTF-8\"", rlmi())
        for (index, member) in members.enumerated() {
            if case .active(let document) = member.state {
                part(partID(index), "application/pidf+xml;charset=\"UTF-8\"", document)
            }
        }
        out += Array("--\(boundary)--\r\n".utf8)
        return out
    }
}
