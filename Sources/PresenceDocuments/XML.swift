// A small namespace-aware XML model for the presence documents (RFC 3863 PIDF, RFC 4479
// data model, RFC 4480 RPID, RFC 3858 watcher info): values only, no I/O.

/// Namespace of the XML model: `XML.Element`, `XML.Node`, `XML.Attribute`, the limited
/// parser (`XML.parse(_:limits:)`, XMLParsing.swift) and the writer (`XML.serialize`,
/// XMLWriting.swift). Not named `XMLElement`: Foundation and FoundationXML have that class.
public enum XML {
    /// One attribute, with its namespace (nil: no namespace, the usual case; Namespaces in
    /// XML 1.0 §6.2: an unprefixed attribute is in no namespace).
    public struct Attribute: Hashable, Sendable {
        public var namespace: String?
        public var name: String
        public var value: String

        public init(namespace: String? = nil, name: String, value: String) {
            self.namespace = namespace
            self.name = name
            self.value = value
        }
    }

    /// A child of an element: an element or character data (CDATA sections become text).
    public enum Node: Hashable, Sendable {
        case element(Element)
        case text(String)
    }

    /// An element: namespace URI, local name, attributes and children, in document order.
    /// Unknown elements and attributes are kept as they are, so that extensions (Linphone's,
    /// Microsoft's, RFC 4480's) survive a parse → serialize round trip.
    public struct Element: Hashable, Sendable {
        /// Namespace URI; nil for an element in no namespace.
        public var namespace: String?
        /// Local name (without prefix).
        public var name: String
        /// The parser sorts them by (namespace, name), so that equal documents compare equal.
        public var attributes: [Attribute]
        public var children: [Node]

        public init(namespace: String?, name: String, attributes: [Attribute] = [], children: [Node] = []) {
            self.namespace = namespace
            self.name = name
            self.attributes = attributes
            self.children = children
        }

        /// An element whose only child is `text`.
        public init(namespace: String?, name: String, attributes: [Attribute] = [], text: String) {
            self.init(namespace: namespace, name: name, attributes: attributes, children: [.text(text)])
        }

        /// Whether this element is `name` in `namespace`.
        public func isNamed(_ name: String, in namespace: String?) -> Bool {
            self.name == name && self.namespace == namespace
        }

        // MARK: Attributes

        /// The value of attribute `name` in `namespace` (nil: no namespace).
        public func attribute(_ name: String, namespace: String? = nil) -> String? {
            attributes.first { $0.name == name && $0.namespace == namespace }?.value
        }

        /// Sets (or with nil, removes) attribute `name`, keeping the order of the others.
        public mutating func setAttribute(_ name: String, namespace: String? = nil, to value: String?) {
            if let i = attributes.firstIndex(where: { $0.name == name && $0.namespace == namespace }) {
                if let value { attributes[i].value = value } else { attributes.remove(at: i) }
            } else if let value {
                attributes.append(Attribute(namespace: namespace, name: name, value: value))
            }
        }

        // MARK: Children

        /// The element children, in order.
        public var elements: [Element] {
            children.compactMap { if case .element(let e) = $0 { e } else { nil } }
        }

        /// The element children named `name` in `namespace`.
        public func elements(_ name: String, in namespace: String?) -> [Element] {
            children.compactMap { if case .element(let e) = $0, e.isNamed(name, in: namespace) { e } else { nil } }
        }

        /// The first element child named `name` in `namespace`.
        public func firstElement(_ name: String, in namespace: String?) -> Element? {
            for case .element(let e) in children where e.isNamed(name, in: namespace) { return e }
            return nil
        }

        /// The character data directly inside this element (not its descendants'), joined.
        public var text: String {
            var result = ""
            for case .text(let t) in children { result += t }
            return result
        }

        /// `text` without leading and trailing XML white space (S: space, tab, CR, LF).
        public var trimmedText: String { XML.trimmed(text) }

        /// Removes the element children named `name` in `namespace`.
        public mutating func removeElements(_ name: String, in namespace: String?) {
            children.removeAll { if case .element(let e) = $0 { e.isNamed(name, in: namespace) } else { false } }
        }

        /// Replaces the element children named `name` in `namespace` by `replacements`, placed
        /// where the first of them was (or at `fallbackIndex` among the children, else at the end).
        public mutating func replaceElements(_ name: String, in namespace: String?, with replacements: [Element],
                                             fallbackIndex: Int? = nil) {
            let first = children.firstIndex { if case .element(let e) = $0 { e.isNamed(name, in: namespace) } else { false } }
            let before = first.map { children[..<$0].count { if case .element(let e) = $0 { !e.isNamed(name, in: namespace) } else { true } } }
            removeElements(name, in: namespace)
            let index = min(before ?? fallbackIndex ?? children.count, children.count)
            children.insert(contentsOf: replacements.map(Node.element), at: index)
        }

        /// Number of elements in this subtree, this one included.
        public var elementCount: Int {
            1 + children.reduce(0) { if case .element(let e) = $1 { $0 + e.elementCount } else { $0 } }
        }
    }

    /// The namespace of `xml:lang` and `xml:space` (Namespaces in XML 1.0 §3: bound to the
    /// prefix `xml` without a declaration).
    public static let xmlNamespace = "http://www.w3.org/XML/1998/namespace"

    /// XML white space (XML 1.0 §2.3, S).
    package static func isWhitespace(_ c: Character) -> Bool { c == " " || c == "\t" || c == "\n" || c == "\r" }

    package static func trimmed(_ s: String) -> String {
        guard let start = s.firstIndex(where: { !isWhitespace($0) }),
              let end = s.lastIndex(where: { !isWhitespace($0) }) else { return "" }
        return String(s[start...end])
    }
}
