import SIPDigest
/// The one error type of the Registrar target: a code, a human reason and the SIP status
/// the request is answered with, plus the header fields that status requires
/// (Min-Expires for 423, Unsupported for 420, Retry-After for 500 on a store failure).
public struct RegistrarError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public init(_ name: String) { self.name = name }
        public var description: String { name }

        public static let badRequest = Code("badRequest")
        public static let notOurDomain = Code("notOurDomain")
        public static let unknownUser = Code("unknownUser")
        public static let forbidden = Code("forbidden")
        public static let intervalTooBrief = Code("intervalTooBrief")
        public static let badExtension = Code("badExtension")
        public static let outOfOrder = Code("outOfOrder")
        public static let tooManyBindings = Code("tooManyBindings")
        public static let storeUnavailable = Code("storeUnavailable")
        public static let methodNotAllowed = Code("methodNotAllowed")
    }

    public var code: Code
    public var reason: String
    public var status: Int
    /// Extra header fields the response must carry, in order.
    public var headers: [(String, String)]

    public init(_ code: Code, status: Int, _ reason: String, headers: [(String, String)] = []) {
        self.code = code
        self.status = status
        self.reason = reason
        self.headers = headers
    }

    public var description: String { "\(status) \(code): \(reason)" }

    public static func == (a: RegistrarError, b: RegistrarError) -> Bool {
        a.code == b.code && a.reason == b.reason && a.status == b.status
            && a.headers.map { $0.0 + ":" + $0.1 } == b.headers.map { $0.0 + ":" + $0.1 }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(status)
        hasher.combine(reason)
    }
}
