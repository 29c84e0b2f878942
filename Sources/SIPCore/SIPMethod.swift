/// A request method (RFC 3261 §7.1, §25.1 `Method`): the RFC methods and any extension token.
/// Methods are case-sensitive: only `INVITE` is `.invite`.
public enum SIPMethod: Hashable, Sendable, CustomStringConvertible {
    case invite, ack, bye, cancel, register, options, message, subscribe, notify,
         publish, info, prack, update, refer
    case `extension`(String)

    public init(_ token: String) {
        switch token {
        case "INVITE": self = .invite
        case "ACK": self = .ack
        case "BYE": self = .bye
        case "CANCEL": self = .cancel
        case "REGISTER": self = .register
        case "OPTIONS": self = .options
        case "MESSAGE": self = .message
        case "SUBSCRIBE": self = .subscribe
        case "NOTIFY": self = .notify
        case "PUBLISH": self = .publish
        case "INFO": self = .info
        case "PRACK": self = .prack
        case "UPDATE": self = .update
        case "REFER": self = .refer
        default: self = .extension(token)
        }
    }

    public var rawValue: String {
        switch self {
        case .invite: "INVITE"
        case .ack: "ACK"
        case .bye: "BYE"
        case .cancel: "CANCEL"
        case .register: "REGISTER"
        case .options: "OPTIONS"
        case .message: "MESSAGE"
        case .subscribe: "SUBSCRIBE"
        case .notify: "NOTIFY"
        case .publish: "PUBLISH"
        case .info: "INFO"
        case .prack: "PRACK"
        case .update: "UPDATE"
        case .refer: "REFER"
        case .extension(let token): token
        }
    }

    public var description: String { rawValue }

    /// True for the methods an RFC defines (not `.extension`).
    public var isStandard: Bool {
        if case .extension = self { return false }
        return true
    }

    static func fromBytes(_ bytes: Bytes, _ r: Range<Int>) -> SIPMethod {
        // Fast path without allocating for the common methods.
        let n = r.count
        let b0 = bytes[r.lowerBound]
        @inline(__always) func eq(_ s: StaticString) -> Bool {
            guard s.utf8CodeUnitCount == n else { return false }
            let p = s.utf8Start
            for i in 0..<n where bytes[r.lowerBound + i] != p[i] { return false }
            return true
        }
        switch b0 {
        case UInt8(ascii: "I"): if eq("INVITE") { return .invite }; if eq("INFO") { return .info }
        case UInt8(ascii: "A"): if eq("ACK") { return .ack }
        case UInt8(ascii: "B"): if eq("BYE") { return .bye }
        case UInt8(ascii: "C"): if eq("CANCEL") { return .cancel }
        case UInt8(ascii: "R"): if eq("REGISTER") { return .register }; if eq("REFER") { return .refer }
        case UInt8(ascii: "O"): if eq("OPTIONS") { return .options }
        case UInt8(ascii: "M"): if eq("MESSAGE") { return .message }
        case UInt8(ascii: "S"): if eq("SUBSCRIBE") { return .subscribe }
        case UInt8(ascii: "N"): if eq("NOTIFY") { return .notify }
        case UInt8(ascii: "P"): if eq("PUBLISH") { return .publish }; if eq("PRACK") { return .prack }
        case UInt8(ascii: "U"): if eq("UPDATE") { return .update }
        default: break
        }
        return .extension(makeString(bytes, r))
    }
}
