#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

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

/// Where one header field lives: its canonical name and kind, and its value either as a range
/// of the received message bytes (`SIPHeaders.storage`) or as a string set by hand.
struct HeaderEntry: Sendable {
    var name: String
    var kind: HeaderKind
    /// The value when it is not a range of the storage (set by hand, or unfolded).
    var text: String?
    var start: Int32
    var end: Int32

    init(name: String, kind: HeaderKind, range: Range<Int>) {
        self.name = name
        self.kind = kind
        self.text = nil
        self.start = Int32(truncatingIfNeeded: range.lowerBound)
        self.end = Int32(truncatingIfNeeded: range.upperBound)
    }

    init(name: String, kind: HeaderKind, text: String) {
        self.name = name
        self.kind = kind
        self.text = text
        self.start = 0
        self.end = 0
    }

    /// A field given by name, canonicalized (`v` becomes `Via`).
    init(name: String, value: String) {
        let (c, kind, _) = HeaderNames.resolveKind(name)
        self.init(name: c, kind: kind, text: value)
    }
}

/// The typed values of the hot headers (ARCHITECTURE "The hot path": top Via, From, To,
/// CSeq, Contact, Max-Forwards, Expires, Call-ID), built once by the parser while it checks them and
/// carried with the message, so that the accessors only read them. Immutable and shared
/// between copies; `SIPHeaders.hotMask` says which of them still match the header list.
final class HotHeaders: Sendable {
    /// The values, moved in from the parser's builder (no copy).
    let values: HotBuilder

    init(_ b: consuming HotBuilder) { values = b }

    var topVia: Via? { values.topVia }
    var from: NameAddr? { values.from }
    var to: NameAddr? { values.to }
    var cseq: CSeq? { values.cseq }
    var contacts: [ContactValue] { values.contacts }
    var maxForwards: Int? { values.maxForwards }
    var expires: Int? { values.expires }
    var callID: String? { values.callID }

    /// The mask bit of the header kinds that have a cached value; 0 for the others.
    @inline(__always)
    static func bit(_ kind: HeaderKind) -> UInt16 {
        switch kind {
        case .via: 1
        case .from: 2
        case .to: 4
        case .cseq: 8
        case .contact: 16
        case .maxForwards: 32
        case .expires: 64
        case .callID: 128
        default: 0
        }
    }
    static var all: UInt16 { 255 }
}

/// What the parser collects into `HotHeaders`: the first field of each kind (all Contact fields).
struct HotBuilder: Sendable {
    var topVia: Via?
    var from: NameAddr?
    var to: NameAddr?
    var cseq: CSeq?
    var contacts: [ContactValue] = []
    var maxForwards: Int?
    var expires: Int?
    var callID: String?
    /// Kinds whose first field has been seen.
    var seen: UInt16 = 0

    /// True the first time `kind` is met (and marks it seen).
    @inline(__always)
    mutating func first(_ kind: HeaderKind) -> Bool {
        let bit = HotHeaders.bit(kind)
        if seen & bit != 0 { return false }
        seen |= bit
        return true
    }
}

/// The ordered header list of a message (RFC 3261 §7.3). Unknown headers are kept as
/// received. Lookups by name are case-insensitive and treat compact forms as their full names.
///
/// A parsed message keeps its header bytes as received: each value is a range of one shared
/// copy of the message and becomes a `String` only when asked for. The hot headers' typed
/// values are built once by the parser and dropped field kind by field kind as the list is
/// edited, so the accessors stay coherent with the list.
///
/// `Content-Length` is framing: the parser takes it out of the list (the body's length is the
/// truth) and the serializer always writes the correct one.
public struct SIPHeaders: Sendable, RandomAccessCollection, ExpressibleByArrayLiteral {
    /// The received message bytes the entries' ranges point into (empty when built by hand).
    var storage: [UInt8]
    var entries: [HeaderEntry]
    /// Typed hot header values from the parser; valid for the kinds whose bit is in `hotMask`.
    var hot: HotHeaders?
    var hotMask: UInt16

    public init() {
        storage = []
        entries = []
        hot = nil
        hotMask = 0
    }
    public init(_ fields: [SIPHeaderField]) {
        self.init()
        entries = fields.map { HeaderEntry(name: $0.name, value: $0.value) }
    }
    public init(arrayLiteral elements: (String, String)...) {
        self.init()
        entries = elements.map { HeaderEntry(name: $0.0, value: $0.1) }
    }
    init(storage: [UInt8], entries: [HeaderEntry], hot: HotHeaders?) {
        self.storage = storage
        self.entries = entries
        self.hot = hot
        self.hotMask = hot == nil ? 0 : HotHeaders.all
    }

    /// The fields in order, each value as a `String` (made on each call: prefer `first`,
    /// the subscripts and the typed accessors).
    public var fields: [SIPHeaderField] {
        entries.map { SIPHeaderField(name: $0.name, value: value(of: $0)) }
    }

    /// The canonical name of the field at `index` (no value built): for passes over the
    /// list that look at most values only by name.
    public func name(at index: Int) -> String { entries[index].name }

    /// The value of the field at `index`.
    public func value(at index: Int) -> String { value(of: entries[index]) }
    /// Whether the value at `index` contains `byte`, read in place (no `String` made).
    public func value(at index: Int, contains byte: UInt8) -> Bool {
        withValueBytes(entries[index]) { b, r in r.contains { b[$0] == byte } }
    }

    public var startIndex: Int { entries.startIndex }
    public var endIndex: Int { entries.endIndex }
    public subscript(position: Int) -> SIPHeaderField {
        let e = entries[position]
        return SIPHeaderField(name: e.name, value: value(of: e))
    }

    // MARK: values

    @inline(__always)
    func value(of e: HeaderEntry) -> String {
        if let t = e.text { return t }
        return storage.withUnsafeBufferPointer { makeString($0, Int(e.start)..<Int(e.end)) }
    }

    /// Runs `body` over the bytes of an entry's value without making a String.
    @inline(__always)
    func withValueBytes<R>(_ e: HeaderEntry, _ body: (Bytes, Range<Int>) -> R) -> R {
        if var t = e.text { return t.withUTF8 { body($0, 0..<$0.count) } }
        return storage.withUnsafeBufferPointer { body($0, Int(e.start)..<Int(e.end)) }
    }

    /// As `withValueBytes`, for a body that throws a `SIPParseError`.
    @inline(__always)
    func withValueBytes<R>(_ e: HeaderEntry, throwing body: (Bytes, Range<Int>) throws(SIPParseError) -> R) throws(SIPParseError) -> R {
        let result: Result<R, SIPParseError> = withValueBytes(e) { b, r in
            do throws(SIPParseError) { return .success(try body(b, r)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// The cached typed values when they still hold for `kind`.
    @inline(__always)
    func cached(_ kind: HeaderKind) -> HotHeaders? {
        hotMask & HotHeaders.bit(kind) != 0 ? hot : nil
    }

    @inline(__always)
    mutating func invalidate(_ kind: HeaderKind) {
        hotMask &= ~HotHeaders.bit(kind)
        if hotMask == 0 { hot = nil }
    }

    @inline(__always)
    private static func matches(_ e: HeaderEntry, _ canonical: String) -> Bool {
        e.name == canonical || asciiCaseInsensitiveEqual(e.name, canonical)
    }

    // MARK: lookups

    /// All values of `name` in order. Headers whose grammar is a comma-separated list
    /// (Via, Contact, Route, Allow, Supported, ...) are split at commas outside quotes and
    /// angle brackets (§7.3.1); other headers give one value per field.
    public subscript(_ name: String) -> [String] {
        let (c, split) = HeaderNames.resolve(name)
        var out: [String] = []
        for e in entries where SIPHeaders.matches(e, c) {
            if split {
                withValueBytes(e) { b, r in
                    forEachListElement(b, r) { x in if !x.isEmpty { out.append(makeString(b, x)) } }
                }
            } else {
                out.append(value(of: e))
            }
        }
        return out
    }

    /// The first value of `name` (the first list element for list headers).
    public func first(_ name: String) -> String? {
        let (c, isList) = HeaderNames.resolve(name)
        for e in entries where SIPHeaders.matches(e, c) {
            if !isList { return value(of: e) }
            if let v = firstListElement(e) { return v }
        }
        return nil
    }

    /// The first non-empty list element of an entry's value.
    func firstListElement(_ e: HeaderEntry) -> String? {
        withValueBytes(e) { b, r in firstListElementRange(b, r).map { makeString(b, $0) } }
    }

    /// The raw field values of `name`, one per header line, unsplit.
    public func fieldValues(_ name: String) -> [String] {
        let c = HeaderNames.canonical(name)
        return entries.filter { SIPHeaders.matches($0, c) }.map { value(of: $0) }
    }

    public func contains(_ name: String) -> Bool {
        let c = HeaderNames.canonical(name)
        return entries.contains { SIPHeaders.matches($0, c) }
    }

    // MARK: edits (each drops the cached typed value of the kinds it touches)

    /// Makes room for `count` fields, so that a message built field by field (and given its
    /// Via by the transaction layer) grows its list once.
    public mutating func reserveCapacity(_ count: Int) {
        entries.reserveCapacity(count)
    }

    public mutating func append(_ name: String, _ value: String) {
        let e = HeaderEntry(name: name, value: value)
        invalidate(e.kind)
        entries.append(e)
    }

    /// Inserts a field before the first field of that name (a new top Via, Record-Route),
    /// or at the top of the list when there is none.
    public mutating func insertFirst(_ name: String, _ value: String) {
        let e = HeaderEntry(name: name, value: value)
        invalidate(e.kind)
        let at = entries.firstIndex { SIPHeaders.matches($0, e.name) } ?? 0
        entries.insert(e, at: at)
    }

    public mutating func removeAll(_ name: String) {
        let (c, kind, _) = HeaderNames.resolveKind(name)
        invalidate(kind)
        entries.removeAll { SIPHeaders.matches($0, c) }
    }

    /// Removes the first value of `name`: the first list element when a field holds several
    /// (`Via: a, b` becomes `Via: b`), else the whole field. Pops the top Via or Route.
    public mutating func removeFirstValue(_ name: String) {
        let (c, kind, isList) = HeaderNames.resolveKind(name)
        guard let i = entries.firstIndex(where: { SIPHeaders.matches($0, c) }) else { return }
        invalidate(kind)
        if isList {
            let rest: String? = withValueBytes(entries[i]) { b, r in
                var parts: [Range<Int>] = []
                forEachListElement(b, r) { x in if !x.isEmpty { parts.append(x) } }
                guard parts.count > 1 else { return nil }
                return parts.dropFirst().map { makeString(b, $0) }.joined(separator: ", ")
            }
            if let rest {
                entries[i].text = rest
                return
            }
        }
        entries.remove(at: i)
    }

    /// Replaces every field of `name` with one field holding `value`, at the first one's place.
    public mutating func replace(_ name: String, with value: String) {
        let e = HeaderEntry(name: name, value: value)
        invalidate(e.kind)
        if let i = entries.firstIndex(where: { SIPHeaders.matches($0, e.name) }) {
            entries[i] = e
            var j = entries.count - 1
            while j > i {
                if SIPHeaders.matches(entries[j], e.name) { entries.remove(at: j) }
                j -= 1
            }
        } else {
            entries.append(e)
        }
    }

    /// Direct access for edits in place.
    public mutating func setField(at index: Int, _ field: SIPHeaderField) {
        let e = HeaderEntry(name: field.name, value: field.value)
        invalidate(entries[index].kind)
        invalidate(e.kind)
        entries[index] = e
    }
    public mutating func remove(at index: Int) {
        invalidate(entries[index].kind)
        entries.remove(at: index)
    }
}

extension SIPHeaders: Hashable {
    /// Equal when the fields are: the same names and the same value bytes, in order, however
    /// each value is held (received bytes or a string). The cached typed values do not count.
    public static func == (a: SIPHeaders, b: SIPHeaders) -> Bool {
        guard a.entries.count == b.entries.count else { return false }
        for i in a.entries.indices {
            let x = a.entries[i], y = b.entries[i]
            guard x.name == y.name else { return false }
            let same = a.withValueBytes(x) { xb, xr in
                b.withValueBytes(y) { yb, yr in
                    guard xr.count == yr.count else { return false }
                    guard let xp = xb.baseAddress, let yp = yb.baseAddress else { return xr.isEmpty }
                    return memcmp(xp + xr.lowerBound, yp + yr.lowerBound, xr.count) == 0
                }
            }
            if !same { return false }
        }
        return true
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(entries.count)
        for e in entries {
            hasher.combine(e.name)
            withValueBytes(e) { b, r in
                hasher.combine(r.count)
                hasher.combine(bytes: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: b[r])))
            }
        }
    }
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
    return value.withUTF8 { b -> String? in firstListElementRange(b, 0..<b.count).map { makeString(b, $0) } }
}

/// The range of the first non-empty element of the list in `b[range]`.
func firstListElementRange(_ b: Bytes, _ range: Range<Int>) -> Range<Int>? {
    var found: Range<Int>?
    forEachListElement(b, range) { r in if found == nil, !r.isEmpty { found = r } }
    return found
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
