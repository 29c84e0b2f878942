// The limited parser: Foundation's XMLParser (libxml2 on Linux) behind checks that refuse
// what a presence document never needs and an attacker would send.
#if canImport(FoundationXML)
import FoundationXML
#endif
import Foundation

extension XML {
    /// What the parser accepts; over a limit the body is refused before or while parsing.
    public struct Limits: Hashable, Sendable {
        /// Body size in bytes; over it: `bodyTooLarge` (413).
        public var maxBytes: Int
        /// Nesting depth of elements (the root is depth 1); over it: `tooDeep`.
        public var maxDepth: Int
        /// Elements in the document; over it: `tooManyElements`.
        public var maxElements: Int

        public init(maxBytes: Int = 65_536, maxDepth: Int = 32, maxElements: Int = 2_000) {
            self.maxBytes = maxBytes
            self.maxDepth = maxDepth
            self.maxElements = maxElements
        }

        public static let `default` = Limits()
    }

    /// Parses `bytes` into its root element.
    ///
    /// Before parsing, refuses: a body over `limits.maxBytes` (413); any `<!DOCTYPE` or
    /// `<!ENTITY` (so no internal or external entity is ever expanded: XXE, billion laughs);
    /// anything but UTF-8 (a UTF-16 byte order mark, a NUL byte, an XML declaration naming
    /// another encoding), since the declaration scan above reads ASCII bytes. Parses with
    /// namespaces processed and external entities off, refusing depth and element counts
    /// over the limits. Comments and processing instructions are dropped; CDATA becomes
    /// text; white-space-only text beside child elements (indentation) is dropped; attributes
    /// are sorted by (namespace, name) so that equal documents give equal values.
    public static func parse(_ bytes: [UInt8], limits: Limits = .default) throws(PresenceDocumentError) -> Element {
        guard bytes.count <= limits.maxBytes else {
            throw PresenceDocumentError(.bodyTooLarge, "body of \(bytes.count) bytes is over the \(limits.maxBytes)-byte limit")
        }
        try precheck(bytes)
        let builder = TreeBuilder(limits: limits)
        let parser = XMLParser(data: Data(bytes))
        parser.shouldProcessNamespaces = true
        parser.shouldReportNamespacePrefixes = true
        parser.shouldResolveExternalEntities = false
        parser.delegate = builder
        let ok = parser.parse()
        if let error = builder.error { throw error }
        // libxml2 may report a fatal error yet return true (seen on Linux): check both.
        if !ok || parser.parserError != nil || builder.root == nil || !builder.stack.isEmpty {
            let code = (parser.parserError as NSError?)?.code
            throw PresenceDocumentError(.notWellFormed, "not well-formed XML"
                + (code.map { " (parser error \($0) at line \(parser.lineNumber))" } ?? ""))
        }
        return builder.root!
    }

    /// The checks made on the raw bytes before any parser sees them.
    static func precheck(_ bytes: [UInt8]) throws(PresenceDocumentError) {
        if bytes.count >= 2, (bytes[0] == 0xFE && bytes[1] == 0xFF) || (bytes[0] == 0xFF && bytes[1] == 0xFE) {
            throw PresenceDocumentError(.unsupportedEncoding, "UTF-16 body; only UTF-8 is accepted")
        }
        if bytes.contains(0) {
            throw PresenceDocumentError(.unsupportedEncoding, "NUL byte in the body; only UTF-8 is accepted")
        }
        for keyword in ["<!DOCTYPE", "<!ENTITY"] where contains(bytes, caseInsensitive: Array(keyword.utf8)) {
            throw PresenceDocumentError(.forbiddenDeclaration, "\(keyword) declarations are refused")
        }
        if let encoding = declaredEncoding(bytes) {
            let accepted = ["utf-8", "utf8", "us-ascii", "ascii"]
            guard accepted.contains(encoding.lowercased()) else {
                throw PresenceDocumentError(.unsupportedEncoding, "declared encoding \(encoding); only UTF-8 is accepted")
            }
        }
    }

    /// Whether `haystack` contains `needle` (ASCII, compared case-insensitively).
    static func contains(_ haystack: [UInt8], caseInsensitive needle: [UInt8]) -> Bool {
        guard haystack.count >= needle.count, let first = needle.first else { return false }
        func lower(_ b: UInt8) -> UInt8 { b >= 0x41 && b <= 0x5A ? b | 0x20 : b }
        var i = 0
        while i <= haystack.count - needle.count {
            if haystack[i] == first {
                var j = 1
                while j < needle.count && lower(haystack[i + j]) == lower(needle[j]) { j += 1 }
                if j == needle.count { return true }
            }
            i += 1
        }
        return false
    }

    /// The `encoding` of the XML declaration (XML 1.0 §4.3.3), if the body starts with one.
    static func declaredEncoding(_ bytes: [UInt8]) -> String? {
        var start = 0
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { start = 3 }  // UTF-8 byte order mark
        guard bytes[start...].starts(with: Array("<?xml".utf8)) else { return nil }
        let end = bytes[start...].firstIndex(of: UInt8(ascii: ">")) ?? bytes.count
        let declaration = String(decoding: bytes[start..<end], as: UTF8.self)
        guard let range = declaration.range(of: "encoding") else { return nil }
        let rest = declaration[range.upperBound...].drop { $0 == " " || $0 == "=" || $0 == "\t" }
        guard let quote = rest.first, quote == "\"" || quote == "'" else { return nil }
        return String(rest.dropFirst().prefix { $0 != quote })
    }
}

/// Builds the tree from XMLParser's callbacks and enforces the depth and element limits.
private final class TreeBuilder: NSObject, XMLParserDelegate {
    let limits: XML.Limits
    var stack: [XML.Element] = []
    var root: XML.Element?
    var error: PresenceDocumentError?
    var elementCount = 0
    /// prefix → URIs in scope (innermost last), for resolving prefixed attribute names.
    var prefixes: [String: [String]] = [:]

    init(limits: XML.Limits) { self.limits = limits }

    func fail(_ parser: XMLParser, _ error: PresenceDocumentError) {
        if self.error == nil { self.error = error }
        parser.abortParsing()
    }

    func parser(_ parser: XMLParser, didStartMappingPrefix prefix: String, toURI namespaceURI: String) {
        prefixes[prefix, default: []].append(namespaceURI)
    }

    func parser(_ parser: XMLParser, didEndMappingPrefix prefix: String) {
        _ = prefixes[prefix]?.popLast()
    }

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]) {
        guard error == nil else { return }
        elementCount += 1
        if elementCount > limits.maxElements {
            return fail(parser, PresenceDocumentError(.tooManyElements, "more than \(limits.maxElements) elements"))
        }
        if stack.count + 1 > limits.maxDepth {
            return fail(parser, PresenceDocumentError(.tooDeep, "elements nested deeper than \(limits.maxDepth)"))
        }
        if root != nil {
            return fail(parser, PresenceDocumentError(.notWellFormed, "content after the root element"))
        }
        var attributes: [XML.Attribute] = []
        attributes.reserveCapacity(attributeDict.count)
        for (key, value) in attributeDict {
            guard let colon = key.firstIndex(of: ":") else {
                if key != "xmlns" { attributes.append(XML.Attribute(name: key, value: value)) }
                continue
            }
            let prefix = String(key[..<colon]), local = String(key[key.index(after: colon)...])
            if prefix == "xmlns" { continue }  // a declaration, reported through the mapping callbacks
            let namespace: String? = prefix == "xml" ? XML.xmlNamespace : prefixes[prefix]?.last
            guard let namespace else {
                return fail(parser, PresenceDocumentError(.notWellFormed, "undeclared prefix \(prefix) on attribute \(local)"))
            }
            attributes.append(XML.Attribute(namespace: namespace, name: local, value: value))
        }
        attributes.sort { ($0.namespace ?? "", $0.name) < ($1.namespace ?? "", $1.name) }
        let namespace = namespaceURI.flatMap { $0.isEmpty ? nil : $0 }
        stack.append(XML.Element(namespace: namespace, name: elementName, attributes: attributes))
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?) {
        guard error == nil, var element = stack.popLast() else { return }
        if element.children.contains(where: { if case .element = $0 { true } else { false } }) {
            element.children.removeAll { if case .text(let t) = $0 { t.allSatisfy(XML.isWhitespace) } else { false } }
        }
        if stack.isEmpty {
            root = element
        } else {
            stack[stack.count - 1].children.append(.element(element))
        }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        append(text: string)
    }

    func parser(_ parser: XMLParser, foundCDATA CDATABlock: Data) {
        append(text: String(decoding: CDATABlock, as: UTF8.self))
    }

    func append(text: String) {
        guard error == nil, !stack.isEmpty else { return }  // white space outside the root
        let last = stack.count - 1
        if case .text(let previous)? = stack[last].children.last {
            stack[last].children[stack[last].children.count - 1] = .text(previous + text)
        } else {
            stack[last].children.append(.text(text))
        }
    }

    func parser(_ parser: XMLParser, parseErrorOccurred parseError: any Error) {
        let code = (parseError as NSError).code
        fail(parser, PresenceDocumentError(.notWellFormed, "not well-formed XML (parser error \(code) at line \(parser.lineNumber))"))
    }
}
