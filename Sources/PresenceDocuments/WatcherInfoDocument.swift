/// RFC 3858 watcher information (`application/watcherinfo+xml`): who watches a resource,
/// sent to a subscriber of the `presence.winfo` template package (RFC 3857).
///
/// One watcher list: the presence agent serves one resource per winfo subscription.
public struct WatcherInfoDocument: Hashable, Sendable {
    /// RFC 3858 §4.2: full state, or only the watchers that changed.
    public enum State: String, Hashable, Sendable, CaseIterable {
        case full
        case partial
    }

    /// §4.2: incremented by one for every document sent in the subscription, from 0.
    public var version: Int
    public var state: State
    public var watcherList: WatcherList

    public init(version: Int, state: State, watcherList: WatcherList) {
        self.version = version
        self.state = state
        self.watcherList = watcherList
    }

    /// Parses and validates a watcher-info body: within `limits`, root `watcherinfo` in
    /// `urn:ietf:params:xml:ns:watcherinfo` with a non-negative `version` and a `state`
    /// (§4.2), exactly one `watcher-list` with `resource` and `package` (§4.3), and every
    /// watcher with `id`, `status`, `event` from their enumerations and a URI (§4.4).
    public static func parse(_ body: [UInt8], limits: XML.Limits = .default) throws(PresenceDocumentError) -> WatcherInfoDocument {
        let root = try XML.parse(body, limits: limits)
        let ns = PresenceNamespace.watcherInfo
        guard root.isNamed("watcherinfo", in: ns) else {
            throw PresenceDocumentError(.wrongRoot, "root is \(root.name) in \(root.namespace ?? "no namespace"), not watcherinfo in \(ns)")
        }
        guard let versionText = root.attribute("version"), let version = Int(versionText), version >= 0 else {
            throw PresenceDocumentError(.missingAttribute, "watcherinfo without a non-negative version (RFC 3858 §4.2)")
        }
        guard let stateText = root.attribute("state") else {
            throw PresenceDocumentError(.missingAttribute, "watcherinfo without a state (RFC 3858 §4.2)")
        }
        guard let state = State(rawValue: stateText) else {
            throw PresenceDocumentError(.invalidValue, "watcherinfo state \"\(stateText)\" is not full or partial")
        }
        let lists = root.elements("watcher-list", in: ns)
        guard lists.count == 1, let list = lists.first else {
            throw PresenceDocumentError(.missingElement, "\(lists.count) watcher lists; one expected")
        }
        guard let resource = list.attribute("resource"), let package = list.attribute("package") else {
            throw PresenceDocumentError(.missingAttribute, "watcher-list without resource or package (RFC 3858 §4.3)")
        }
        let watchers = try list.elements("watcher", in: ns).map { (w) throws(PresenceDocumentError) in try Watcher(element: w) }
        return WatcherInfoDocument(version: version, state: state,
                                   watcherList: WatcherList(resource: resource, package: package, watchers: watchers))
    }

    /// The body: `<?xml version="1.0" encoding="UTF-8"?>` and the `watcherinfo` element.
    public func serialized() -> [UInt8] {
        XML.serialize(element)
    }

    /// The document as one `watcherinfo` element.
    public var element: XML.Element {
        let ns = PresenceNamespace.watcherInfo
        let list = XML.Element(namespace: ns, name: "watcher-list",
                               attributes: [XML.Attribute(name: "resource", value: watcherList.resource),
                                            XML.Attribute(name: "package", value: watcherList.package)],
                               children: watcherList.watchers.map { .element($0.element) })
        return XML.Element(namespace: ns, name: "watcherinfo",
                           attributes: [XML.Attribute(name: "version", value: String(version)),
                                        XML.Attribute(name: "state", value: state.rawValue)],
                           children: [.element(list)])
    }
}

/// RFC 3858 §4.3: the watchers of one resource for one event package.
public struct WatcherList: Hashable, Sendable {
    /// The watched resource's URI.
    public var resource: String
    /// The event package watched: `presence` here.
    public var package: String
    public var watchers: [Watcher]

    public init(resource: String, package: String = "presence", watchers: [Watcher] = []) {
        self.resource = resource
        self.package = package
        self.watchers = watchers
    }
}

/// RFC 3858 §4.4: one watcher (one subscription) and how its state last changed.
public struct Watcher: Hashable, Sendable {
    /// RFC 3857 §5.2: the subscription's state.
    public enum Status: String, Hashable, Sendable, CaseIterable {
        case pending, active, waiting, terminated
    }

    /// RFC 3857 §5.2: the event that brought the subscription to its state.
    public enum Event: String, Hashable, Sendable, CaseIterable {
        case subscribe, approved, deactivated, probation, rejected, timeout, giveup, noresource
    }

    /// Unique per subscription, stable across documents.
    public var id: String
    /// The watcher's URI (the element's content).
    public var uri: String
    public var status: Status
    public var event: Event
    public var displayName: String?
    /// Seconds the subscription has existed.
    public var durationSubscribed: Int?
    /// Seconds until the subscription expires.
    public var expiration: Int?

    public init(id: String, uri: String, status: Status, event: Event, displayName: String? = nil,
                durationSubscribed: Int? = nil, expiration: Int? = nil) {
        self.id = id
        self.uri = uri
        self.status = status
        self.event = event
        self.displayName = displayName
        self.durationSubscribed = durationSubscribed
        self.expiration = expiration
    }

    init(element: XML.Element) throws(PresenceDocumentError) {
        guard let id = element.attribute("id"), !id.isEmpty else {
            throw PresenceDocumentError(.missingAttribute, "watcher without an id (RFC 3858 §4.4)")
        }
        guard let statusText = element.attribute("status"), let eventText = element.attribute("event") else {
            throw PresenceDocumentError(.missingAttribute, "watcher \(id) without status or event (RFC 3858 §4.4)")
        }
        guard let status = Status(rawValue: statusText) else {
            throw PresenceDocumentError(.invalidValue, "watcher \(id): status \"\(statusText)\" (RFC 3858 §4.4)")
        }
        guard let event = Event(rawValue: eventText) else {
            throw PresenceDocumentError(.invalidValue, "watcher \(id): event \"\(eventText)\" (RFC 3858 §4.4)")
        }
        let uri = element.trimmedText
        guard !uri.isEmpty else { throw PresenceDocumentError(.missingElement, "watcher \(id) without a URI") }
        func seconds(_ name: String) throws(PresenceDocumentError) -> Int? {
            guard let text = element.attribute(name) else { return nil }
            guard let value = Int(text), value >= 0 else {
                throw PresenceDocumentError(.invalidValue, "watcher \(id): \(name) \"\(text)\" is not a number of seconds")
            }
            return value
        }
        self.init(id: id, uri: uri, status: status, event: event, displayName: element.attribute("display-name"),
                  durationSubscribed: try seconds("duration-subscribed"), expiration: try seconds("expiration"))
    }

    /// The `watcher` element, attributes in the RFC 3858 §5 example's order.
    package var element: XML.Element {
        var attributes = [XML.Attribute(name: "id", value: id), XML.Attribute(name: "status", value: status.rawValue),
                          XML.Attribute(name: "event", value: event.rawValue)]
        if let displayName { attributes.append(XML.Attribute(name: "display-name", value: displayName)) }
        if let durationSubscribed { attributes.append(XML.Attribute(name: "duration-subscribed", value: String(durationSubscribed))) }
        if let expiration { attributes.append(XML.Attribute(name: "expiration", value: String(expiration))) }
        return XML.Element(namespace: PresenceNamespace.watcherInfo, name: "watcher", attributes: attributes, text: uri)
    }
}
