/// Header field names: canonical spellings, compact forms (RFC 3261 §7.3.3, §20 and the
/// extension RFCs), and which headers are comma-separated lists (§7.3.1).
enum HeaderNames {
    struct Entry {
        let name: String
        let lowered: [UInt8]
        let isList: Bool
    }

    /// Canonical name and whether its grammar is a comma-separated list.
    static let known: [(String, Bool)] = [
        ("Accept", true), ("Accept-Contact", true), ("Accept-Encoding", true), ("Accept-Language", true),
        ("Alert-Info", true), ("Allow", true), ("Allow-Events", true), ("Authentication-Info", false),
        ("Authorization", false), ("Call-ID", false), ("Call-Info", true), ("Contact", true),
        ("Content-Disposition", false), ("Content-Encoding", true), ("Content-Language", true),
        ("Content-Length", false), ("Content-Type", false), ("CSeq", false), ("Date", false),
        ("Error-Info", true), ("Event", false), ("Expires", false), ("From", false), ("Identity", false),
        ("Identity-Info", false), ("In-Reply-To", true), ("Max-Forwards", false), ("MIME-Version", false),
        ("Min-Expires", false), ("Organization", false), ("Path", true), ("Priority", false),
        ("Proxy-Authenticate", false), ("Proxy-Authorization", false), ("Proxy-Require", true),
        ("Reason", true), ("Record-Route", true), ("Refer-To", false), ("Referred-By", false),
        ("Reject-Contact", true), ("Reply-To", false), ("Request-Disposition", true), ("Require", true),
        ("Retry-After", false), ("Route", true), ("Server", false), ("Service-Route", true),
        ("Session-Expires", false), ("SIP-ETag", false), ("SIP-If-Match", false), ("Subject", false),
        ("Subscription-State", false), ("Supported", true), ("Timestamp", false), ("To", false),
        ("Unsupported", true), ("User-Agent", false), ("Via", true), ("Warning", true),
        ("WWW-Authenticate", false), ("Flow-Timer", false), ("P-Asserted-Identity", true),
        ("Privacy", true), ("Min-SE", false), ("RSeq", false), ("RAck", false),
    ]

    static let compact: [(UInt8, String)] = [
        (UInt8(ascii: "i"), "Call-ID"), (UInt8(ascii: "m"), "Contact"), (UInt8(ascii: "e"), "Content-Encoding"),
        (UInt8(ascii: "l"), "Content-Length"), (UInt8(ascii: "c"), "Content-Type"), (UInt8(ascii: "f"), "From"),
        (UInt8(ascii: "s"), "Subject"), (UInt8(ascii: "k"), "Supported"), (UInt8(ascii: "t"), "To"),
        (UInt8(ascii: "v"), "Via"), (UInt8(ascii: "o"), "Event"), (UInt8(ascii: "u"), "Allow-Events"),
        (UInt8(ascii: "r"), "Refer-To"), (UInt8(ascii: "b"), "Referred-By"), (UInt8(ascii: "x"), "Session-Expires"),
        (UInt8(ascii: "y"), "Identity"), (UInt8(ascii: "a"), "Accept-Contact"), (UInt8(ascii: "j"), "Reject-Contact"),
        (UInt8(ascii: "d"), "Request-Disposition"), (UInt8(ascii: "n"), "Identity-Info"),
    ]

    /// Entries bucketed by name length for lookups from bytes without allocating.
    static let byLength: [[Entry]] = {
        var buckets = [[Entry]](repeating: [], count: 32)
        for (name, isList) in known {
            let e = Entry(name: name, lowered: name.utf8.map(ASCII.lower), isList: isList)
            buckets[e.lowered.count].append(e)
        }
        return buckets
    }()

    static let compactTable: [String?] = {
        var t = [String?](repeating: nil, count: 128)
        for (c, name) in compact { t[Int(c)] = name }
        return t
    }()

    static let listNames: Set<String> = Set(known.filter { $0.1 }.map { $0.0 })

    /// The canonical (full) name for a known header written in any case or compact form.
    @inline(__always)
    static func canonical(_ b: Bytes, _ r: Range<Int>) -> String? {
        let n = r.count
        if n == 1 {
            let c = ASCII.lower(b[r.lowerBound])
            return c < 128 ? compactTable[Int(c)] : nil
        }
        guard n < 32 else { return nil }
        outer: for e in byLength[n] {
            var k = r.lowerBound
            for x in e.lowered {
                if ASCII.lower(b[k]) != x { continue outer }
                k += 1
            }
            return e.name
        }
        return nil
    }

    /// Canonical name for a String name; unknown names are returned unchanged.
    static func canonical(_ name: String) -> String {
        var name = name
        return name.withUTF8 { b in canonical(b, 0..<b.count) } ?? name
    }

    static func isList(_ canonicalName: String) -> Bool { listNames.contains(canonicalName) }
}
