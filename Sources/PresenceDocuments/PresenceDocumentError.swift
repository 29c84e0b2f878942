/// Why a presence document (PIDF, RFC 3863; watcher info, RFC 3858) was refused, with the
/// status a presence agent answers the PUBLISH or NOTIFY that carried it with.
public struct PresenceDocumentError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of fault, for metrics, logs and tests.
    public enum Code: String, Hashable, Sendable, CaseIterable {
        /// 413: the body is over `XML.Limits.maxBytes` (64 KiB).
        case bodyTooLarge = "body-too-large"
        /// 400: not well-formed XML (XML 1.0 §2.1), or a prefix never declared.
        case notWellFormed = "not-well-formed"
        /// 400: a `<!DOCTYPE` or `<!ENTITY` declaration (XXE, billion laughs): never parsed.
        case forbiddenDeclaration = "forbidden-declaration"
        /// 400: not UTF-8 (a UTF-16 byte order mark, a NUL byte, another declared encoding).
        case unsupportedEncoding = "unsupported-encoding"
        /// 400: elements nested deeper than `XML.Limits.maxDepth`.
        case tooDeep = "too-deep"
        /// 400: more elements than `XML.Limits.maxElements`.
        case tooManyElements = "too-many-elements"
        /// 400: the root is not the expected element in the expected namespace
        /// (`presence` in `urn:ietf:params:xml:ns:pidf`, `watcherinfo` in `...:watcherinfo`).
        case wrongRoot = "wrong-root"
        /// 400: a required attribute is absent or empty (`entity`, a tuple's `id`, ...).
        case missingAttribute = "missing-attribute"
        /// 400: a required element is absent (a tuple's `status`, a watcher list).
        case missingElement = "missing-element"
        /// 400: a value outside its enumeration (`basic` not open/closed, a watcher status).
        case invalidValue = "invalid-value"
    }

    public var code: Code
    /// Human-readable reason, suitable for a Warning header or a log line.
    public var reason: String

    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    /// The status to answer with: 413 for an oversized body (RFC 3261 §21.4.11), else 400.
    public var status: Int { code == .bodyTooLarge ? 413 : 400 }

    public var description: String { "\(status) \(code.rawValue): \(reason)" }
}
