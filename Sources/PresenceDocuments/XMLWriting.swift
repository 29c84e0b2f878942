// The writer: every namespace declared once, on the root, with stable prefixes.

extension XML {
    /// Prefixes the writer gives the namespaces of the presence documents; any other
    /// namespace gets `ns1`, `ns2`, ... in the order of first use (depth first).
    public static let knownPrefixes: [(namespace: String, prefix: String)] = [
        (PresenceNamespace.rpid, "rpid"),
        (PresenceNamespace.dataModel, "dm"),
        (PresenceNamespace.cipid, "c"),
        ("http://schemas.microsoft.com/winrtc/2002/11/sip", "m"),
    ]

    /// `<?xml version="1.0" encoding="UTF-8"?>` and `root`, compact (no indentation: a
    /// NOTIFY over UDP must stay under 1300 bytes, RFC 3261 §18.1.1). The root's namespace
    /// is the default namespace; every other namespace used anywhere is declared once on
    /// the root. Text and attribute values are escaped (XML 1.0 §2.4, §3.3.3), and
    /// characters XML 1.0 cannot carry (§2.2: most C0 controls) become U+FFFD.
    public static func serialize(_ root: Element) -> [UInt8] {
        let writer = Writer(root: root)
        var out: [UInt8] = []
        out.reserveCapacity(1024)
        out += #"<?xml version="1.0" encoding="UTF-8"?>"#.utf8
        out.append(UInt8(ascii: "\n"))
        writer.write(root, isRoot: true, defaultInScope: root.namespace, into: &out)
        return out
    }

    struct Writer {
        let defaultNamespace: String?
        /// namespace → prefix, for prefixed names (the default namespace may have one too,
        /// when an attribute is in it: attributes never take the default namespace).
        var prefixes: [String: String] = [:]
        /// Declarations in order of first use, for the root.
        var declarations: [(prefix: String, namespace: String)] = []
        var generated = 0

        init(root: Element) {
            defaultNamespace = root.namespace
            collect(root)
            // An element in no namespace undeclares the default (`xmlns=""`): the default
            // namespace's elements below it then need a prefix.
            if let ns = defaultNamespace, hasUnqualified { declare(ns) }
        }

        var hasUnqualified = false

        mutating func collect(_ element: Element) {
            if let ns = element.namespace, ns != defaultNamespace { declare(ns) }
            if element.namespace == nil { hasUnqualified = true }
            for attribute in element.attributes {
                if let ns = attribute.namespace, ns != XML.xmlNamespace { declare(ns) }
            }
            for case .element(let child) in element.children { collect(child) }
        }

        mutating func declare(_ namespace: String) {
            guard prefixes[namespace] == nil else { return }
            var prefix = XML.knownPrefixes.first { $0.namespace == namespace }?.prefix
            if prefix == nil {
                repeat {
                    generated += 1
                    prefix = "ns\(generated)"
                } while XML.knownPrefixes.contains { $0.prefix == prefix }
            }
            prefixes[namespace] = prefix!
            declarations.append((prefix!, namespace))
        }

        func qualified(_ name: String, namespace: String?, isAttribute: Bool, defaultInScope: String? = nil) -> String {
            guard let namespace else { return name }
            if namespace == XML.xmlNamespace { return "xml:" + name }
            if !isAttribute && namespace == defaultInScope { return name }
            return prefixes[namespace]! + ":" + name
        }

        func write(_ element: Element, isRoot: Bool, defaultInScope: String?, into out: inout [UInt8]) {
            let name = qualified(element.name, namespace: element.namespace, isAttribute: false,
                                 defaultInScope: defaultInScope)
            out.append(UInt8(ascii: "<"))
            out += name.utf8
            var defaultHere = defaultInScope
            if isRoot {
                if let ns = defaultNamespace { attribute("xmlns", ns, into: &out) }
                for (prefix, ns) in declarations { attribute("xmlns:" + prefix, ns, into: &out) }
            } else if element.namespace == nil && defaultInScope != nil {
                attribute("xmlns", "", into: &out)  // an element in no namespace inside the default one
                defaultHere = nil
            }
            for a in element.attributes {
                attribute(qualified(a.name, namespace: a.namespace, isAttribute: true), a.value, into: &out)
            }
            if element.children.isEmpty { out += "/>".utf8; return }
            out.append(UInt8(ascii: ">"))
            for child in element.children {
                switch child {
                case .text(let text): escape(text, attribute: false, into: &out)
                case .element(let e): write(e, isRoot: false, defaultInScope: defaultHere, into: &out)
                }
            }
            out += "</".utf8
            out += name.utf8
            out.append(UInt8(ascii: ">"))
        }

        /// ` name="value"`, the value escaped.
        func attribute(_ name: String, _ value: String, into out: inout [UInt8]) {
            out.append(UInt8(ascii: " "))
            out += name.utf8
            out += "=\"".utf8
            escape(value, attribute: true, into: &out)
            out.append(UInt8(ascii: "\""))
        }
    }

    /// Appends `text` escaped: `&` `<` `>` always; in attribute values also `"` and the white
    /// space that attribute-value normalization (XML 1.0 §3.3.3) would turn into spaces; `\r`
    /// in text too (end-of-line handling, §2.11, would turn it into `\n`).
    static func escape(_ text: String, attribute: Bool, into out: inout [UInt8]) {
        var utf8 = text.utf8.makeIterator()
        while let byte = utf8.next() {
            switch byte {
            case UInt8(ascii: "&"): out += "&amp;".utf8
            case UInt8(ascii: "<"): out += "&lt;".utf8
            case UInt8(ascii: ">"): out += "&gt;".utf8
            case UInt8(ascii: "\"") where attribute: out += "&quot;".utf8
            case UInt8(ascii: "\n") where attribute: out += "&#10;".utf8
            case UInt8(ascii: "\t") where attribute: out += "&#9;".utf8
            case UInt8(ascii: "\r"): out += "&#13;".utf8
            case UInt8(ascii: "\t"), UInt8(ascii: "\n"): out.append(byte)
            case 0x00...0x1F: out += replacement
            case 0xEF:
                // U+FFFE and U+FFFF (EF BF BE, EF BF BF) are not XML characters either.
                guard let b1 = utf8.next() else { out.append(byte); break }
                guard let b2 = utf8.next() else { out += [byte, b1]; break }
                if b1 == 0xBF && (b2 == 0xBE || b2 == 0xBF) { out += replacement } else { out += [byte, b1, b2] }
            default: out.append(byte)
            }
        }
    }

    /// U+FFFD REPLACEMENT CHARACTER in UTF-8.
    static let replacement: [UInt8] = [0xEF, 0xBF, 0xBD]
}
