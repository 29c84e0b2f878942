import Foundation

/// A search of the archive (`sipctl archive search` / `export`): every filter optional,
/// results oldest first.
public struct ArchiveQuery: Hashable, Sendable {
    /// Compared with ``ArchiveRecord/addressKey(_:)`` of the From and To URIs.
    public var from: String?
    public var to: String?
    /// Inclusive lower and exclusive upper bounds, milliseconds since the epoch.
    public var since: Int64?
    public var until: Int64?
    /// Every word must occur in the body (case-insensitive for ASCII letters).
    public var words: [String] = []
    public var limit: Int?

    public init(from: String? = nil, to: String? = nil, since: Int64? = nil, until: Int64? = nil,
                words: [String] = [], limit: Int? = nil) {
        self.from = from
        self.to = to
        self.since = since
        self.until = until
        self.words = words
        self.limit = limit
    }

    /// Builds a query from command-line text; throws `badFilter` with a reason naming the
    /// option for an unusable value.
    public static func parse(from: String?, to: String?, since: String?, until: String?, text: String?,
                             limit: Int?) throws(ArchiveError) -> ArchiveQuery {
        var query = ArchiveQuery()
        for (name, value) in [("from", from), ("to", to)] {
            guard let value else { continue }
            let key = ArchiveRecord.addressKey(value)
            guard !key.isEmpty, !key.contains(" ") else {
                throw ArchiveError(.badFilter, "bad --\(name) '\(value)' (expected a SIP URI or user@domain)")
            }
            if name == "from" { query.from = key } else { query.to = key }
        }
        if let since {
            guard let t = ArchiveTime.parse(since) else { throw badTime("since", since) }
            query.since = t
        }
        if let until {
            guard let t = ArchiveTime.parse(until) else { throw badTime("until", until) }
            query.until = t
        }
        if let s = query.since, let u = query.until, u < s {
            throw ArchiveError(.badFilter, "--until \(until!) is before --since \(since!)")
        }
        if let text {
            query.words = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard !query.words.isEmpty else { throw ArchiveError(.badFilter, "empty --text") }
        }
        if let limit {
            guard limit > 0 else { throw ArchiveError(.badFilter, "bad --limit \(limit) (expected a positive number)") }
            query.limit = limit
        }
        return query
    }

    static func badTime(_ name: String, _ value: String) -> ArchiveError {
        ArchiveError(.badFilter, "bad --\(name) '\(value)' (expected ISO 8601: 2026-11-30, 2026-11-30T14:05:00Z or 2026-11-30T15:05:00.250+01:00)")
    }
}

/// ISO 8601 times of the archive (UTC, milliseconds).
public enum ArchiveTime {
    /// `2026-11-30T14:05:00.250Z` for milliseconds since the epoch.
    public static func format(_ ms: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }

    /// Milliseconds since the epoch of an ISO 8601 date-time with a zone (`Z` or `+01:00`),
    /// with or without fractional seconds, or of a date alone (midnight UTC); nil otherwise.
    public static func parse(_ text: String) -> Int64? {
        let variants: [ISO8601DateFormatter.Options] = [
            [.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime], [.withFullDate],
        ]
        for options in variants {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = options
            formatter.timeZone = TimeZone(identifier: "UTC")
            if let date = formatter.date(from: text) { return Int64((date.timeIntervalSince1970 * 1000).rounded()) }
        }
        return nil
    }

    /// Now, in milliseconds since the epoch.
    public static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}

/// The archive's output formats (CONTRACT.md `sipctl archive`).
public enum ArchiveFormat {
    /// One JSON object: `from`, `to`, `time`, `content_type`, `body`, `call_id`, `server`,
    /// then `cseq`, `status` and `message_id`. A body that is not UTF-8 is given in base64
    /// with `"body_encoding":"base64"`.
    public static func json(_ r: ArchiveRecord) -> String {
        var fields: [(String, String)] = [
            ("from", quote(r.from)), ("to", quote(r.to)), ("time", quote(ArchiveTime.format(r.time))),
            ("content_type", quote(r.contentType)),
        ]
        if let text = String(validating: r.body, as: UTF8.self) {
            fields.append(("body", quote(text)))
        } else {
            fields.append(("body", quote(Data(r.body).base64EncodedString())))
            fields.append(("body_encoding", quote("base64")))
        }
        fields += [("call_id", quote(r.callID)), ("server", quote(r.server)), ("cseq", "\(r.cseq)"),
                   ("status", r.status.map { "\($0)" } ?? "null"), ("message_id", quote(r.messageID))]
        return "{" + fields.map { "\(quote($0.0)):\($0.1)" }.joined(separator: ",") + "}"
    }

    public static let csvHeader = "time,from,to,call_id,cseq,content_type,status,server,message_id,body_encoding,body"

    /// One CSV line (RFC 4180 quoting) in ``csvHeader``'s order.
    public static func csv(_ r: ArchiveRecord) -> String {
        let text = String(validating: r.body, as: UTF8.self)
        let fields = [ArchiveTime.format(r.time), r.from, r.to, r.callID, "\(r.cseq)", r.contentType,
                      r.status.map { "\($0)" } ?? "", r.server, r.messageID, text == nil ? "base64" : "utf-8",
                      text ?? Data(r.body).base64EncodedString()]
        return fields.map(csvField).joined(separator: ",")
    }

    /// A plain line for people: time, from -> to, status, body (first line, shortened).
    public static func line(_ r: ArchiveRecord) -> String {
        let body = String(validating: r.body, as: UTF8.self).map {
            String($0.prefix { $0 != "\n" && $0 != "\r" }.prefix(120))
        } ?? "<\(r.body.count) bytes of \(r.contentType)>"
        return "\(ArchiveTime.format(r.time))  \(r.from) -> \(r.to)  \(r.status.map { "\($0)" } ?? "-")  \(body)"
    }

    static func csvField(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
