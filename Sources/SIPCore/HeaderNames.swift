/// Headers the parser checks as it reads them (RFC 3261 §8.2.2, §16.3).
enum HeaderKind {
    case via, from, to, callID, cseq, contact, route, recordRoute, path, maxForwards, expires, contentLength, other
}

/// Header field names: canonical spellings, compact forms (RFC 3261 §7.3.3, §20 and the
/// extension RFCs), and which headers are comma-separated lists (§7.3.1).
enum HeaderNames {
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


    /// The canonical name and kind of a known header written in any case or compact form.
    /// Generated from `known` and `compact` (a switch on length, then a case-insensitive compare).
    @inline(__always)
    static func lookup(_ b: Bytes, _ r: Range<Int>) -> (String, HeaderKind, Bool)? {
        switch r.count {
        case 1:
            switch ASCII.lower(b[r.lowerBound]) {
            case UInt8(ascii: "i"): return ("Call-ID", .callID, false)
            case UInt8(ascii: "m"): return ("Contact", .contact, true)
            case UInt8(ascii: "e"): return ("Content-Encoding", .other, true)
            case UInt8(ascii: "l"): return ("Content-Length", .contentLength, false)
            case UInt8(ascii: "c"): return ("Content-Type", .other, false)
            case UInt8(ascii: "f"): return ("From", .from, false)
            case UInt8(ascii: "s"): return ("Subject", .other, false)
            case UInt8(ascii: "k"): return ("Supported", .other, true)
            case UInt8(ascii: "t"): return ("To", .to, false)
            case UInt8(ascii: "v"): return ("Via", .via, true)
            case UInt8(ascii: "o"): return ("Event", .other, false)
            case UInt8(ascii: "u"): return ("Allow-Events", .other, true)
            case UInt8(ascii: "r"): return ("Refer-To", .other, false)
            case UInt8(ascii: "b"): return ("Referred-By", .other, false)
            case UInt8(ascii: "x"): return ("Session-Expires", .other, false)
            case UInt8(ascii: "y"): return ("Identity", .other, false)
            case UInt8(ascii: "a"): return ("Accept-Contact", .other, true)
            case UInt8(ascii: "j"): return ("Reject-Contact", .other, true)
            case UInt8(ascii: "d"): return ("Request-Disposition", .other, true)
            case UInt8(ascii: "n"): return ("Identity-Info", .other, false)
            default: return nil
            }
        case 2:
            switch ASCII.lower(b[r.lowerBound]) {
            case UInt8(ascii: "t"):
                if equalsLowercased(b, r, "to") { return ("To", .to, false) }
            default: break
            }
            return nil
        case 3:
            switch ASCII.lower(b[r.lowerBound]) {
            case UInt8(ascii: "v"):
                if equalsLowercased(b, r, "via") { return ("Via", .via, true) }
            default: break
            }
            return nil
        case 4:
            switch ASCII.lower(b[r.lowerBound]) {
            case UInt8(ascii: "c"):
                if equalsLowercased(b, r, "cseq") { return ("CSeq", .cseq, false) }
            case UInt8(ascii: "d"):
                if equalsLowercased(b, r, "date") { return ("Date", .other, false) }
            case UInt8(ascii: "f"):
                if equalsLowercased(b, r, "from") { return ("From", .from, false) }
            case UInt8(ascii: "p"):
                if equalsLowercased(b, r, "path") { return ("Path", .path, true) }
            case UInt8(ascii: "r"):
                if equalsLowercased(b, r, "rseq") { return ("RSeq", .other, false) }
                if equalsLowercased(b, r, "rack") { return ("RAck", .other, false) }
            default: break
            }
            return nil
        case 5:
            switch ASCII.lower(b[r.lowerBound]) {
            case UInt8(ascii: "a"):
                if equalsLowercased(b, r, "allow") { return ("Allow", .other, true) }
            case UInt8(ascii: "e"):
                if equalsLowercased(b, r, "event") { return ("Event", .other, false) }
            case UInt8(ascii: "r"):
                if equalsLowercased(b, r, "route") { return ("Route", .route, true) }
            default: break
            }
            return nil
        case 6:
            switch ASCII.lower(b[r.lowerBound]) {
            case UInt8(ascii: "a"):
                if equalsLowercased(b, r, "accept") { return ("Accept", .other, true) }
            case UInt8(ascii: "m"):
                if equalsLowercased(b, r, "min-se") { return ("Min-SE", .other, false) }
            case UInt8(ascii: "r"):
                if equalsLowercased(b, r, "reason") { return ("Reason", .other, true) }
            case UInt8(ascii: "s"):
                if equalsLowercased(b, r, "server") { return ("Server", .other, false) }
            default: break
            }
            return nil
        case 7:
            switch ASCII.lower(b[r.lowerBound]) {
            case UInt8(ascii: "c"):
                if equalsLowercased(b, r, "call-id") { return ("Call-ID", .callID, false) }
                if equalsLowercased(b, r, "contact") { return ("Contact", .contact, true) }
            case UInt8(ascii: "e"):
                if equalsLowercased(b, r, "expires") { return ("Expires", .expires, false) }
            case UInt8(ascii: "p"):
                if equalsLowercased(b, r, "privacy") { return ("Privacy", .other, true) }
            case UInt8(ascii: "r"):
                if equalsLowercased(b, r, "require") { return ("Require", .other, true) }
            case UInt8(ascii: "s"):
                if equalsLowercased(b, r, "subject") { return ("Subject", .other, false) }
            case UInt8(ascii: "w"):
                if equalsLowercased(b, r, "warning") { return ("Warning", .other, true) }
            default: break
            }
            return nil
        case 8:
            switch ASCII.lower(b[r.lowerBound]) {
            case UInt8(ascii: "i"):
                if equalsLowercased(b, r, "identity") { return ("Identity", .other, false) }
            case UInt8(ascii: "p"):
                if equalsLowercased(b, r, "priority") { return ("Priority", .other, false) }
            case UInt8(ascii: "r"):
                if equalsLowercased(b, r, "refer-to") { return ("Refer-To", .other, false) }
                if equalsLowercased(b, r, "reply-to") { return ("Reply-To", .other, false) }
            case UInt8(ascii: "s"):
                if equalsLowercased(b, r, "sip-etag") { return ("SIP-ETag", .other, false) }
            default: break
            }
            return nil
        case 9:
            switch ASCII.lower(b[r.lowerBound]) {
            case UInt8(ascii: "c"):
                if equalsLowercased(b, r, "call-info") { return ("Call-Info", .other, true) }
            case UInt8(ascii: "s"):
                if equalsLowercased(b, r, "supported") { return ("Supported", .other, true) }
            case UInt8(ascii: "t"):
                if equalsLowercased(b, r, "timestamp") { return ("Timestamp", .other, false) }
            default: break
            }
            return nil
        case 10:
            switch ASCII.lower(b[r.lowerBound]) {
            case UInt8(ascii: "a"):
                if equalsLowercased(b, r, "alert-info") { return ("Alert-Info", .other, true) }
            case UInt8(ascii: "e"):
                if equalsLowercased(b, r, "error-info") { return ("Error-Info", .other, true) }
            case UInt8(ascii: "f"):
                if equalsLowercased(b, r, "flow-timer") { return ("Flow-Timer", .other, false) }
            case UInt8(ascii: "u"):
                if equalsLowercased(b, r, "user-agent") { return ("User-Agent", .other, false) }
            default: break
            }
            return nil
        case 11:
            switch ASCII.lower(b[r.lowerBound]) {
            case UInt8(ascii: "i"):
                if equalsLowercased(b, r, "in-reply-to") { return ("In-Reply-To", .other, true) }
            case UInt8(ascii: "m"):
                if equalsLowercased(b, r, "min-expires") { return ("Min-Expires", .other, false) }
            case UInt8(ascii: "r"):
                if equalsLowercased(b, r, "referred-by") { return ("Referred-By", .other, false) }
                if equalsLowercased(b, r, "retry-after") { return ("Retry-After", .other, false) }
            case UInt8(ascii: "u"):
                if equalsLowercased(b, r, "unsupported") { return ("Unsupported", .other, true) }
            default: break
            }
            return nil
        case 12:
            switch ASCII.lower(b[r.lowerBound]) {
            case UInt8(ascii: "a"):
                if equalsLowercased(b, r, "allow-events") { return ("Allow-Events", .other, true) }
            case UInt8(ascii: "c"):
                if equalsLowercased(b, r, "content-type") { return ("Content-Type", .other, false) }
            case UInt8(ascii: "m"):
                if equalsLowercased(b, r, "max-forwards") { return ("Max-Forwards", .maxForwards, false) }
                if equalsLowercased(b, r, "mime-version") { return ("MIME-Version", .other, false) }
            case UInt8(ascii: "o"):
                if equalsLowercased(b, r, "organization") { return ("Organization", .other, false) }
            case UInt8(ascii: "r"):
                if equalsLowercased(b, r, "record-route") { return ("Record-Route", .recordRoute, true) }
            case UInt8(ascii: "s"):
                if equalsLowercased(b, r, "sip-if-match") { return ("SIP-If-Match", .other, false) }
            default: break
            }
            return nil
        case 13:
            switch ASCII.lower(b[r.lowerBound]) {
            case UInt8(ascii: "a"):
                if equalsLowercased(b, r, "authorization") { return ("Authorization", .other, false) }
            case UInt8(ascii: "i"):
                if equalsLowercased(b, r, "identity-info") { return ("Identity-Info", .other, false) }
            case UInt8(ascii: "p"):
                if equalsLowercased(b, r, "proxy-require") { return ("Proxy-Require", .other, true) }
            case UInt8(ascii: "s"):
                if equalsLowercased(b, r, "service-route") { return ("Service-Route", .other, true) }
            default: break
            }
            return nil
        case 14:
            switch ASCII.lower(b[r.lowerBound]) {
            case UInt8(ascii: "a"):
                if equalsLowercased(b, r, "accept-contact") { return ("Accept-Contact", .other, true) }
            case UInt8(ascii: "c"):
                if equalsLowercased(b, r, "content-length") { return ("Content-Length", .contentLength, false) }
            case UInt8(ascii: "r"):
                if equalsLowercased(b, r, "reject-contact") { return ("Reject-Contact", .other, true) }
            default: break
            }
            return nil
        case 15:
            switch ASCII.lower(b[r.lowerBound]) {
            case UInt8(ascii: "a"):
                if equalsLowercased(b, r, "accept-encoding") { return ("Accept-Encoding", .other, true) }
                if equalsLowercased(b, r, "accept-language") { return ("Accept-Language", .other, true) }
            case UInt8(ascii: "s"):
                if equalsLowercased(b, r, "session-expires") { return ("Session-Expires", .other, false) }
            default: break
            }
            return nil
        case 16:
            switch ASCII.lower(b[r.lowerBound]) {
            case UInt8(ascii: "c"):
                if equalsLowercased(b, r, "content-encoding") { return ("Content-Encoding", .other, true) }
                if equalsLowercased(b, r, "content-language") { return ("Content-Language", .other, true) }
            case UInt8(ascii: "w"):
                if equalsLowercased(b, r, "www-authenticate") { return ("WWW-Authenticate", .other, false) }
            default: break
            }
            return nil
        case 18:
            switch ASCII.lower(b[r.lowerBound]) {
            case UInt8(ascii: "p"):
                if equalsLowercased(b, r, "proxy-authenticate") { return ("Proxy-Authenticate", .other, false) }
            case UInt8(ascii: "s"):
                if equalsLowercased(b, r, "subscription-state") { return ("Subscription-State", .other, false) }
            default: break
            }
            return nil
        case 19:
            switch ASCII.lower(b[r.lowerBound]) {
            case UInt8(ascii: "a"):
                if equalsLowercased(b, r, "authentication-info") { return ("Authentication-Info", .other, false) }
            case UInt8(ascii: "c"):
                if equalsLowercased(b, r, "content-disposition") { return ("Content-Disposition", .other, false) }
            case UInt8(ascii: "p"):
                if equalsLowercased(b, r, "proxy-authorization") { return ("Proxy-Authorization", .other, false) }
                if equalsLowercased(b, r, "p-asserted-identity") { return ("P-Asserted-Identity", .other, true) }
            case UInt8(ascii: "r"):
                if equalsLowercased(b, r, "request-disposition") { return ("Request-Disposition", .other, true) }
            default: break
            }
            return nil
        default: return nil
        }
    }

    @inline(__always)
    static func canonical(_ b: Bytes, _ r: Range<Int>) -> String? { lookup(b, r)?.0 }

    /// Canonical name for a String name; unknown names are returned unchanged.
    static func canonical(_ name: String) -> String { resolve(name).0 }

    /// Canonical name and whether the header is a comma-separated list (unknown: not split).
    static func resolve(_ name: String) -> (String, Bool) {
        let (c, _, isList) = resolveKind(name)
        return (c, isList)
    }

    /// Canonical name, kind and list-ness of a String name (unknown: unchanged, `.other`, not split).
    static func resolveKind(_ name: String) -> (String, HeaderKind, Bool) {
        var name = name
        guard let r = name.withUTF8({ b in lookup(b, 0..<b.count) }) else { return (name, .other, false) }
        return r
    }
}
