import Store

/// The SOAP bodies LCS 2003 clients send in `SERVICE` requests ([MS-SIP] §2.2.4, [MS-PRES]
/// §2.2.1): an envelope whose body holds one operation element in the namespace
/// `http://schemas.microsoft.com/winrtc/2002/11/sip` with its arguments as child elements.
///
/// ```xml
/// <SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">
///   <SOAP-ENV:Body>
///     <m:setContact xmlns:m="http://schemas.microsoft.com/winrtc/2002/11/sip">
///       <m:displayName>Bob</m:displayName><m:groups>1 2</m:groups>
///       <m:subscribed>true</m:subscribed><m:URI>sip:bob@example.com</m:URI>
///       <m:externalURI/><m:deltaNum>3</m:deltaNum>
///     </m:setContact>
///   </SOAP-ENV:Body>
/// </SOAP-ENV:Envelope>
/// ```
public enum SOAPOperation: Hashable, Sendable {
    /// One change of the caller's roaming contact list.
    case contacts(ContactListChange)
    /// `setACE`: a USER entry of the caller's access list, rights `AA` (allow) or `BD` (block).
    case setACE(watcher: String, rule: AccessRule)
    /// `directorySearch`: attribute/value rows and maxResults.
    case directorySearch(DirectoryQuery)
    /// `setPresence`: the caller's legacy (LCS 2003/2005) presence state.
    case setPresence(ServicePresence)

    public static let envelopeNamespace = "http://schemas.xmlsoap.org/soap/envelope/"
    public static let namespace = "http://schemas.microsoft.com/winrtc/2002/11/sip"
    /// SOAP bodies over this are refused (413) before parsing; LCS clients send a few hundred bytes.
    public static let maxBodyBytes = 16_384
    /// Directory search results a client may ask for at most.
    public static let maxSearchResults = 100

    static let limits = XML.Limits(maxBytes: maxBodyBytes, maxDepth: 8, maxElements: 200)

    /// Parses a SERVICE body; a refusal carries the status (400, or 413 over the size cap)
    /// and a reason for the response line.
    public static func parse(_ body: [UInt8]) throws(RoamingError) -> SOAPOperation {
        guard !body.isEmpty else { throw RoamingError(400, "SERVICE without a SOAP body") }
        let root: XML.Element
        do { root = try XML.parse(body, limits: limits) } catch {
            throw RoamingError(error.status, "malformed SOAP body: \(error.reason)")
        }
        guard root.isNamed("Envelope", in: envelopeNamespace),
              let soapBody = root.firstElement("Body", in: envelopeNamespace) else {
            throw RoamingError(400, "not a SOAP envelope with a Body")
        }
        let operations = soapBody.elements.filter { $0.namespace == namespace && $0.name != "Array" }
        guard operations.count == 1, let operation = operations.first else {
            throw RoamingError(400, "the SOAP Body must hold one operation of \(namespace)")
        }
        switch operation.name {
        case "setContact":
            let uri = try required(operation, "URI")
            var groups: [Int] = []
            for text in (argument(operation, "groups") ?? "").split(whereSeparator: { $0 == " " || $0 == "," }) {
                guard let id = Int(text), id > 0 else { throw RoamingError(400, "groups must be group ids: \(text)") }
                groups.append(id)
            }
            let subscribed = try boolean(argument(operation, "subscribed") ?? "true", "subscribed")
            return .contacts(.setContact(RoamingContact(uri: try aor(uri, "URI"), name: argument(operation, "displayName") ?? "",
                                                        groups: groups, subscribed: subscribed)))
        case "deleteContact":
            return .contacts(.deleteContact(uri: try aor(try required(operation, "URI"), "URI")))
        case "addGroup":
            return .contacts(.addGroup(name: try required(operation, "name")))
        case "modifyGroup":
            return .contacts(.modifyGroup(id: try groupID(operation), name: try required(operation, "name")))
        case "deleteGroup":
            return .contacts(.deleteGroup(id: try groupID(operation)))
        case "setACE":
            let type = try required(operation, "type")
            guard type.uppercased() == "USER" else { throw RoamingError(400, "setACE type \(type) is not supported (USER only)") }
            let watcher = try aor(try required(operation, "mask"), "mask")
            switch try required(operation, "rights").uppercased() {
            case "AA": return .setACE(watcher: watcher, rule: .allow)
            case "BD": return .setACE(watcher: watcher, rule: .block)
            case let rights: throw RoamingError(400, "setACE rights \(rights): expected AA (allow) or BD (block)")
            }
        case "directorySearch":
            return .directorySearch(try search(operation, soapBody))
        case "setPresence":
            return .setPresence(try setPresence(operation))
        default:
            throw RoamingError(501, "SOAP operation \(operation.name) is not implemented")
        }
    }

    /// [MS-PRES] §2.2.1: `<m:filter m:href="#searchArray"/>` names an `m:Array` (a sibling of
    /// the operation in the Body) of `<m:row m:attrib="givenName" m:value="..."/>` rows.
    static func search(_ operation: XML.Element, _ soapBody: XML.Element) throws(RoamingError) -> DirectoryQuery {
        var query = DirectoryQuery(limit: 20)
        if let max = argument(operation, "maxResults") {
            guard let n = Int(max), n > 0 else { throw RoamingError(400, "maxResults must be a positive number") }
            query.limit = min(n, maxSearchResults)
        }
        let rows = soapBody.elements.filter { $0.name == "Array" }.flatMap { $0.elements.filter { $0.name == "row" } }
        for row in rows {
            guard let attribute = row.attribute("attrib", namespace: namespace) ?? row.attribute("attrib"),
                  let value = row.attribute("value", namespace: namespace) ?? row.attribute("value") else {
                throw RoamingError(400, "a search row needs attrib and value")
            }
            let trimmed = XML.trimmed(value)
            guard !trimmed.isEmpty else { continue }
            switch attribute {
            case "givenName": query.givenName = trimmed
            case "sn": query.surname = trimmed
            case "mail": query.email = trimmed
            case "msRTCSIP-PrimaryUserAddress": query.uri = trimmed
            case "displayName": query.text = trimmed
            default: throw RoamingError(400, "unknown search attribute \(attribute)")
            }
        }
        guard query.givenName != nil || query.surname != nil || query.email != nil || query.uri != nil || query.text != nil else {
            throw RoamingError(400, "directorySearch without a search row")
        }
        return query
    }

    /// An argument's trimmed text (child element in the method namespace, or in none).
    static func argument(_ operation: XML.Element, _ name: String) -> String? {
        (operation.firstElement(name, in: namespace) ?? operation.firstElement(name, in: nil)).map(\.trimmedText)
    }

    static func required(_ operation: XML.Element, _ name: String) throws(RoamingError) -> String {
        guard let value = argument(operation, name), !value.isEmpty else {
            throw RoamingError(400, "\(operation.name) without \(name)")
        }
        return value
    }

    static func groupID(_ operation: XML.Element) throws(RoamingError) -> Int {
        let text = try required(operation, "groupID")
        guard let id = Int(text), id > 0 else { throw RoamingError(400, "groupID must be a group id: \(text)") }
        return id
    }

    static func boolean(_ text: String, _ name: String) throws(RoamingError) -> Bool {
        switch text.lowercased() {
        case "true", "1": return true
        case "false", "0": return false
        default: throw RoamingError(400, "\(name) must be true or false")
        }
    }

    static func aor(_ text: String, _ name: String) throws(RoamingError) -> String {
        guard let aor = AOR.normalize(text) else { throw RoamingError(400, "\(name) is not a SIP address user@domain: \(text)") }
        return aor
    }
}

/// Why a roaming request (a SERVICE, a roaming SUBSCRIBE) was refused: the status and the
/// reason phrase the answer carries.
public struct RoamingError: Error, Hashable, Sendable, CustomStringConvertible {
    public var status: Int
    public var reason: String

    public init(_ status: Int, _ reason: String) {
        self.status = status
        self.reason = reason
    }

    public var description: String { "\(status) \(reason)" }

    /// The answer to a store failure: 404-like refusals of the caller's data are theirs (400,
    /// 404, 403 at a limit); a storage failure is 500.
    public init(_ error: StoreError) {
        switch error.code {
        case .invalidValue: self.init(400, error.reason)
        case .notFound, .unknownUser: self.init(404, error.reason)
        case .limitExceeded: self.init(403, error.reason)
        default: self.init(error.status ?? 500, "store unavailable")
        }
    }
}
