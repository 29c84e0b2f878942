/// An RFC 3862 Common Presence and Instant Messaging message (`message/cpim`), the wrapper
/// RFC 5438 puts its IMDN headers in: message headers (`From`, `To`, `NS`, `DateTime`,
/// `imdn.Message-ID`, ...), an empty line, the content's MIME headers (`Content-Type`,
/// ...), an empty line, the content.
///
/// SIPCore does not parse CPIM (it is a MESSAGE body, not SIP), so this small reader and
/// writer live here.
struct CPIMMessage: Sendable {
    /// The message headers in order (RFC 3862 §3.1), names as written.
    var headers: [(name: String, value: String)]
    /// The content's MIME headers (RFC 3862 §3.2), names as written.
    var contentHeaders: [(name: String, value: String)]
    var content: [UInt8]

    /// The value of the first message header named `name` (case-insensitive).
    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// The content's media type, lowercased, without parameters.
    var contentType: String? {
        contentHeaders.first { $0.name.lowercased() == "content-type" }.map { CPIMMessage.bareType($0.value) }
    }

    /// A media type lowercased without parameters and spaces.
    static func bareType(_ value: String) -> String {
        String(value.prefix { $0 != ";" }).trimmingSpaces.lowercased()
    }

    /// The body: message headers, CRLF, content headers (with Content-Length), CRLF, content.
    func serialized() -> [UInt8] {
        var text = ""
        for h in headers { text += "\(h.name): \(h.value)\r\n" }
        text += "\r\n"
        for h in contentHeaders where h.name.lowercased() != "content-length" { text += "\(h.name): \(h.value)\r\n" }
        text += "Content-Length: \(content.count)\r\n\r\n"
        return Array(text.utf8) + content
    }

    /// Parses a `message/cpim` body; nil when it has no two header blocks.
    static func parse(_ body: [UInt8]) -> CPIMMessage? {
        var index = 0
        guard let headers = headerBlock(body, &index), let contentHeaders = headerBlock(body, &index) else { return nil }
        return CPIMMessage(headers: headers, contentHeaders: contentHeaders, content: Array(body[index...]))
    }

    /// Header lines from `index` up to and including the empty line (CRLF or bare LF).
    private static func headerBlock(_ body: [UInt8], _ index: inout Int) -> [(name: String, value: String)]? {
        var fields: [(name: String, value: String)] = []
        while index < body.count {
            var end = index
            while end < body.count, body[end] != 10 { end += 1 }
            guard end < body.count else { return nil }
            var line = body[index..<end]
            if line.last == 13 { line = line.dropLast() }
            index = end + 1
            if line.isEmpty { return fields }
            let text = String(decoding: line, as: UTF8.self)
            if let first = text.first, first == " " || first == "\t", !fields.isEmpty {
                fields[fields.count - 1].value += " " + text.trimmingSpaces  // folded line
                continue
            }
            guard let colon = text.firstIndex(of: ":") else { return nil }
            fields.append((String(text[..<colon]).trimmingSpaces, String(text[text.index(after: colon)...]).trimmingSpaces))
        }
        return nil
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" { s = s.dropLast() }
        return String(s)
    }
}
