/// One archived MESSAGE (RFC 3428) as the relaying server saw it: who sent it to whom, when,
/// its Call-ID and CSeq, its content (binary-safe, as received) and, once known, the final
/// status the server returned to the sender. `messageID` is unique per `server`: the
/// archive's key, which makes shipping idempotent (a record shipped twice is stored once).
public struct ArchiveRecord: Hashable, Sendable {
    public var messageID: String
    /// The relaying server's name (`--server-name`).
    public var server: String
    /// The From and To URIs without header parameters (`sip:alice@example.com`).
    public var from: String
    public var to: String
    /// When the server received it: milliseconds since 1970-01-01T00:00:00Z.
    public var time: Int64
    public var callID: String
    public var cseq: Int64
    public var contentType: String
    public var body: [UInt8]
    /// The final status returned upstream (RFC 3261 §16.7); nil until it is known.
    public var status: Int?

    public init(messageID: String, server: String, from: String, to: String, time: Int64, callID: String,
                cseq: Int64, contentType: String, body: [UInt8], status: Int? = nil) {
        self.messageID = messageID
        self.server = server
        self.from = from
        self.to = to
        self.time = time
        self.callID = callID
        self.cseq = cseq
        self.contentType = contentType
        self.body = body
        self.status = status
    }

    /// `sip:Alice@Example.COM;transport=tcp` -> `alice@example.com`: the form the archive
    /// indexes and the search filters compare (scheme, parameters and headers dropped).
    public static func addressKey(_ uri: String) -> String {
        var text = Substring(uri.lowercased())
        for scheme in ["sips:", "sip:", "tel:"] where text.hasPrefix(scheme) {
            text = text.dropFirst(scheme.count)
            break
        }
        if let cut = text.firstIndex(where: { $0 == ";" || $0 == "?" || $0 == ">" }) { text = text[..<cut] }
        if text.hasPrefix("<") { text = text.dropFirst() }
        return String(text)
    }
}

/// What the spool holds and the shipper applies, in order: a message, or the final status
/// of a message recorded earlier.
public enum ArchiveEvent: Hashable, Sendable {
    case message(ArchiveRecord)
    case status(server: String, messageID: String, status: Int)
}

extension ArchiveEvent {
    /// `events` with each status that follows its own message in the list folded into that
    /// message's record, so the archive inserts the message with its status instead of
    /// inserting it and then updating it; every other event keeps its place and order.
    public static func foldingStatuses(_ events: [ArchiveEvent]) -> [ArchiveEvent] {
        var position: [String: Int] = [:]
        position.reserveCapacity(events.count)
        var folded: [ArchiveEvent] = []
        folded.reserveCapacity(events.count)
        for event in events {
            switch event {
            case .message(let record):
                position[record.server + "\u{0}" + record.messageID] = folded.count
                folded.append(event)
            case .status(let server, let id, let status):
                if let at = position[server + "\u{0}" + id], case .message(var record) = folded[at] {
                    record.status = status
                    folded[at] = .message(record)
                } else {
                    folded.append(event)
                }
            }
        }
        return folded
    }
}

/// Message ids unique per server: a random 64-bit prefix chosen when the process starts and
/// a counter (`3f9c1e0a5b7d2c48-17`), so that ids never repeat across restarts.
public struct ArchiveIDGenerator: Sendable {
    public let prefix: String

    public init() {
        var generator = SystemRandomNumberGenerator()
        let value: UInt64 = generator.next()
        let hex = String(value, radix: 16)
        prefix = String(repeating: "0", count: 16 - hex.count) + hex
    }

    public func id(_ counter: UInt64) -> String { "\(prefix)-\(counter)" }
}

/// The Archive target's one error type: a code, a human reason.
public struct ArchiveError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: Hashable, Sendable {
        /// The spool or archive file cannot be opened or created.
        case openFailed
        /// A write failed (disk full, read-only file system, database down).
        case writeFailed
        /// A read or query failed.
        case readFailed
        /// A search or export filter is unusable (bad time, bad limit).
        case badFilter
        /// The archive URL names a database this build does not support.
        case unsupported
    }

    public let code: Code
    public let reason: String

    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { reason }
}
