/// One header field as received (RFC 3261 §7.3): known names in their canonical full
/// spelling (`v` and `VIA` become `Via`), unknown names exactly as received; the value with
/// leading and trailing whitespace removed and line folding replaced by one space.
public struct SIPHeaderField: Hashable, Sendable {
    public var name: String
    public var value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// The ordered header list of a message (RFC 3261 §7.3). Unknown headers are kept as
/// received. Lookups by name are case-insensitive and treat compact forms as their full names.
///
/// `Content-Length` is framing: the parser takes it out of the list (the body's length is the
/// truth) and the serializer always writes the correct one.
public struct SIPHeaders: Hashable, Sendable, RandomAccessCollection, ExpressibleByArrayLiteral {
    public private(set) var fields: [SIPHeaderField]

    public init() { fields = [] }
    public init(_ fields: [SIPHeaderField]) { self.fields = fields.map { SIPHeaderField(name: HeaderNames.canonical($0.name), value: $0.value) } }
    public init(arrayLiteral elements: (String, String)...) {
        fields = elements.map { SIPHeaderField(name: HeaderNames.canonical($0.0), value: $0.1) }
    }
    init(canonicalFields: [SIPHeaderField]) { fields = canonicalFields }

    public var startIndex: Int { fields.startIndex }
    public var endIndex: Int { fields.endIndex }
    public subscript(position: Int) -> SIPHeaderField { fields[position] }

    @inline(__always)
    private static func matches(_ field: SIPHeaderField, _ canonical: String) -> Bool {
        field.name == canonical || asciiCaseInsensitiveEqual(field.name, canonical)
    }

    /// All values of `name` in order. Headers whose grammar is a comma-separated list
    /// (Via, Contact, Route, Allow, Supported, ...) are split at commas outside quotes and
    /// angle brackets (§7.3.1); other headers give one value per field.
    public subscript(_ name: String) -> [String] {
        let (c, split) = HeaderNames.resolve(name)
        var out: [String] = []
        for f in fields where SIPHeaders.matches(f, c) {
            if split { out += splitHeaderList(f.value).filter { !$0.isEmpty } } else { out.append(f.value) }
        }
        return out
    }

    /// The first value of `name` (the first list element for list headers).
    public func first(_ name: String) -> String? {
        let (c, isList) = HeaderNames.resolve(name)
        for f in fields where SIPHeaders.matches(f, c) {
            if !isList { return f.value }
            if let v = firstListElement(f.value) { return v }
        }
        return nil
    }

    /// The raw field values of `name`, one per header line, unsplit.
    public func fieldValues(_ name: String) -> [String] {
        let c = HeaderNames.canonical(name)
        return fields.filter { SIPHeaders.matches($0, c) }.map(\.value)
    }

    public func contains(_ name: String) -> Bool {
        let c = HeaderNames.canonical(name)
        return fields.contains { SIPHeaders.matches($0, c) }
    }

    public mutating func append(_ name: String, _ value: String) {
        fields.append(SIPHeaderField(name: HeaderNames.canonical(name), value: value))
    }

    /// Inserts a field before the first field of that name (a new top Via, Record-Route),
    /// or at the top of the list when there is none.
    public mutating func insertFirst(_ name: String, _ value: String) {
        let c = HeaderNames.canonical(name)
        let at = fields.firstIndex { SIPHeaders.matches($0, c) } ?? 0
        fields.insert(SIPHeaderField(name: c, value: value), at: at)
    }

    public mutating func removeAll(_ name: String) {
        let c = HeaderNames.canonical(name)
        fields.removeAll { SIPHeaders.matches($0, c) }
    }

    /// Removes the first value of `name`: the first list element when a field holds several
    /// (`Via: a, b` becomes `Via: b`), else the whole field. Pops the top Via or Route.
    public mutating func removeFirstValue(_ name: String) {
        let (c, isList) = HeaderNames.resolve(name)
        guard let i = fields.firstIndex(where: { SIPHeaders.matches($0, c) }) else { return }
        if isList {
            let parts = splitHeaderList(fields[i].value).filter { !$0.isEmpty }
            if parts.count > 1 {
                fields[i].value = parts.dropFirst().joined(separator: ", ")
                return
            }
        }
        fields.remove(at: i)
    }

    /// Replaces every field of `name` with one field holding `value`, at the first one's place.
    public mutating func replace(_ name: String, with value: String) {
        let c = HeaderNames.canonical(name)
        if let i = fields.firstIndex(where: { SIPHeaders.matches($0, c) }) {
            fields[i] = SIPHeaderField(name: c, value: value)
            var j = fields.count - 1
            while j > i {
                if SIPHeaders.matches(fields[j], c) { fields.remove(at: j) }
                j -= 1
            }
        } else {
            fields.append(SIPHeaderField(name: c, value: value))
        }
    }

    /// Direct access for edits in place.
    public mutating func setField(at index: Int, _ field: SIPHeaderField) {
        fields[index] = SIPHeaderField(name: HeaderNames.canonical(field.name), value: field.value)
    }
    public mutating func remove(at index: Int) { fields.remove(at: index) }
}

/// Splits a header value at commas outside quoted strings and angle brackets (RFC 3261 §7.3.1),
/// trimming whitespace around each element. Empty elements are kept (callers decide).
func splitHeaderList(_ value: String) -> [String] {
    var value = value
    return value.withUTF8 { b in
        splitRanges(b, 0..<b.count).map { makeString(b, $0) }
    }
}

/// The first non-empty element of a comma-separated list, without splitting the rest.
func firstListElement(_ value: String) -> String? {
    var value = value
    return value.withUTF8 { b -> String? in
        var found: Range<Int>?
        forEachListElement(b, 0..<b.count) { r in if found == nil, !r.isEmpty { found = r } }
        return found.map { makeString(b, $0) }
    }
}

/// Element ranges (trimmed) of a comma-separated list in `b[range]`.
func splitRanges(_ b: Bytes, _ range: Range<Int>) -> [Range<Int>] {
    var out: [Range<Int>] = []
    forEachListElement(b, range) { out.append($0) }
    return out
}

/// Calls `body` with each element range (trimmed) of a comma-separated list, without allocating.
@inline(__always)
func forEachListElement<E: Error>(_ b: Bytes, _ range: Range<Int>, _ body: (Range<Int>) throws(E) -> Void) throws(E) {
    var start = range.lowerBound
    var i = range.lowerBound
    var inQuote = false, inAngle = false
    func trimmed(_ s: Int, _ e: Int) -> Range<Int> {
        var s = s, e = e
        while s < e, ASCII.isWS(b[s]) { s += 1 }
        while e > s, ASCII.isWS(b[e - 1]) { e -= 1 }
        return s..<e
    }
    // Most list headers hold one element: with no comma at all there is nothing to split.
    if !range.isEmpty, firstIndex(of: ASCII.comma, b, range) == nil {
        try body(trimmed(start, range.upperBound))
        return
    }
    while i < range.upperBound {
        let c = b[i]
        if inQuote {
            if c == ASCII.backslash { i += 1 } else if c == ASCII.quote { inQuote = false }
        } else if c == ASCII.quote {
            inQuote = true
        } else if c == ASCII.lt {
            inAngle = true
        } else if c == ASCII.gt {
            inAngle = false
        } else if c == ASCII.comma && !inAngle {
            try body(trimmed(start, i))
            start = i + 1
        }
        i += 1
    }
    try body(trimmed(start, range.upperBound))
}
