import Roles
import SIPCore
import Synchronization

/// An out-of-office auto-reply, written as a package user writes a routing step: a MESSAGE
/// (RFC 3428) relayed to a user who is away is answered with an automatic MESSAGE back to
/// its sender carrying the away text, and the original still goes on to the user's devices.
///
/// It sits just before the home server's `location` step
/// (`HomeServerPolicy.inserting(_:before:)`), so what it sees has been validated, its sender
/// authenticated (when authentication is on), and is addressed to a user homed here.
/// It never decides (always returns nil): the `location` step delivers the original, or
/// answers 480 when the user has no device signed in (the auto-reply goes out all the same).
///
/// No reply is sent:
/// - to an automatic message (one carrying `Auto-Submitted`, as these replies do, RFC 3834's
///   header borrowed from mail), so two away users never answer each other forever;
/// - for a delivery notification (`message/imdn+xml`, RFC 5438) or a MESSAGE inside a dialog;
/// - more than once per sender and away user within `interval` (one hour by default), as
///   vacation(1) does for mail;
/// - to a sender who is not a user signed in on this server (``RequestOriginator`` reaches
///   only the registered devices of users homed here).
public struct OutOfOfficeStep: RoutingStep {
    public let name = "out-of-office"
    public let away: AwayList
    public let interval: Duration
    let send: @Sendable (SIPRequest, String) -> Void
    let replies = ReplyLog()

    /// - Parameters:
    ///   - away: who is away, with their text.
    ///   - originator: sends the replies (``RoleServices/originator`` in a server).
    ///   - interval: the least time between two replies to one sender for one away user.
    public init(away: AwayList, originator: RequestOriginator, interval: Duration = .seconds(3600)) {
        self.init(away: away, interval: interval) { request, aor in originator.send(request, toContactsOf: aor) }
    }

    /// With a `send` of the caller's (unit tests): given each reply and the AOR it is for.
    public init(away: AwayList, interval: Duration = .seconds(3600),
                send: @escaping @Sendable (SIPRequest, String) -> Void) {
        self.away = away
        self.interval = interval
        self.send = send
    }

    public func process(_ context: inout RoutingContext) -> RoutingDecision? {
        let request = context.request
        guard request.method == .message, request.to?.tag == nil,
              request.headers.first("Auto-Submitted") == nil,
              !(request.headers.first("Content-Type") ?? "").lowercased().hasPrefix("message/imdn"),
              let recipient = Self.aor(request.uri), let text = away.text(for: recipient),
              let sender = context.authenticatedUser ?? request.from.flatMap({ Self.aor($0.uri) }),
              sender != recipient,
              replies.shouldReply(from: recipient, to: sender, interval: interval),
              let reply = RequestOriginator.request(
                .message, from: recipient, to: sender, body: Array(text.utf8),
                headers: [SIPHeaderField(name: "Auto-Submitted", value: "auto-replied")])
        else { return nil }
        send(reply, sender)
        return nil  // the original goes on to the next step: it is still delivered
    }

    /// `user@domain` of a SIP URI, the domain lowercased (how the directory keys users).
    static func aor(_ uri: URI) -> String? {
        guard let sip = uri.sipURI, let user = sip.user, !user.isEmpty else { return nil }
        return "\(user)@\(sip.hostWithoutBrackets.lowercased())"
    }
}

/// Who is away and the text their auto-reply carries, by AOR (`alice@example.com`).
public struct AwayList: Sendable, Equatable {
    public var texts: [String: String]

    public init(_ texts: [String: String] = [:]) {
        self.texts = Dictionary(texts.map { (Self.key($0.key), $0.value) }, uniquingKeysWith: { _, last in last })
    }

    /// From `user@domain=text` values (`--away`, `away = ...` in a config file).
    /// - Throws: ``RolesError`` (`badConfiguration`) for a value without `=`, an AOR
    ///   without `@`, or an empty text.
    public init(parsing values: [String]) throws(RolesError) {
        var texts: [String: String] = [:]
        for value in values {
            guard let eq = value.firstIndex(of: "=") else {
                throw RolesError(.badConfiguration, "bad away '\(value)' (expected USER@DOMAIN=TEXT)")
            }
            let aor = value[..<eq].trimmingCharacters(in: " \t")
            let text = value[value.index(after: eq)...].trimmingCharacters(in: " \t\"")
            guard aor.contains("@"), !aor.hasPrefix("@"), !aor.hasSuffix("@"), !text.isEmpty else {
                throw RolesError(.badConfiguration, "bad away '\(value)' (expected USER@DOMAIN=TEXT)")
            }
            texts[aor] = text
        }
        self.init(texts)
    }

    /// The away text of `aor`, nil when that user is not away.
    public func text(for aor: String) -> String? { texts[Self.key(aor)] }

    static func key(_ aor: String) -> String {
        var aor = aor
        if aor.hasPrefix("sip:") { aor.removeFirst(4) }
        guard let at = aor.lastIndex(of: "@") else { return aor }
        return String(aor[..<at]) + "@" + aor[aor.index(after: at)...].lowercased()
    }
}

/// When each (away user, sender) pair was last answered: one short lock, as the routing
/// steps' tables are (the step runs on the event loop that read the request). Capped.
final class ReplyLog: Sendable {
    private let last = Mutex<[String: ContinuousClock.Instant]>([:])
    static let cap = 100_000

    func shouldReply(from recipient: String, to sender: String, interval: Duration) -> Bool {
        let now = ContinuousClock.now
        let key = recipient + " " + sender
        return last.withLock { table in
            if let then = table[key], now - then < interval { return false }
            if table.count >= Self.cap { table = table.filter { now - $0.value < interval } }
            if table.count >= Self.cap { return false }  // still full: no reply rather than unbounded memory
            table[key] = now
            return true
        }
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let c = s.first, set.contains(c) { s.removeFirst() }
        while let c = s.last, set.contains(c) { s.removeLast() }
        return String(s)
    }
}
