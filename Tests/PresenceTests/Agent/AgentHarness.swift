import Foundation
import Logging
import SIPCore
import SIPTransaction
import Store
import Synchronization
@testable import Presence

/// A transport that records what the layer sends (responses and NOTIFYs), for driving the
/// presence agent through a real `TransactionLayer` without sockets.
final class RecordingTransport: TransactionTransport {
    enum Sent: Sendable {
        case request(SIPRequest, SIPDestination)
        case response(SIPResponse)
    }
    private let sentMessages = Mutex<[Sent]>([])
    var sent: [Sent] { sentMessages.withLock { $0 } }
    var requests: [SIPRequest] { sent.compactMap { if case .request(let r, _) = $0 { r } else { nil } } }
    var destinations: [SIPDestination] { sent.compactMap { if case .request(_, let d) = $0 { d } else { nil } } }
    var responses: [SIPResponse] { sent.compactMap { if case .response(let r) = $0 { r } else { nil } } }
    func clear() { sentMessages.withLock { $0.removeAll() } }

    /// Requests fail at the transport (a connection refused or lost) while set.
    let failRequests = Mutex(false)

    func send(_ request: SIPRequest, to destination: SIPDestination, onFailure: @escaping @Sendable (SIPTransactionError) -> Void) {
        sentMessages.withLock { $0.append(.request(request, destination)) }
        if failRequests.withLock({ $0 }) { onFailure(SIPTransactionError(.transportError, "refused")) }
    }
    func send(_ response: SIPResponse, replyingTo source: SIPMessageSource, onFailure: @escaping @Sendable (SIPTransactionError) -> Void) {
        sentMessages.withLock { $0.append(.response(response)) }
    }
    func sentBy(for destination: SIPDestination) -> SIPHostPort { SIPHostPort(host: "192.0.2.1", port: 5060) }
}

/// Seconds the tests move by hand.
final class ManualStoreClock: Sendable {
    private let seconds = Mutex<Int64>(1_800_000_000)
    var now: Int64 { seconds.withLock { $0 } }
    func advance(_ by: Int64) { seconds.withLock { $0 += by } }
    var clock: StoreClock { StoreClock { self.now } }
}

/// The presence agent over a real SQLite store in a temp folder, a real transaction layer
/// with a recording transport, a manual clock and a registration table the test sets.
final class AgentHarness: Sendable {
    let transport = RecordingTransport()
    let layer: TransactionLayer
    let clock = ManualStoreClock()
    let store: SQLiteStore
    let access: AccessLists
    let journal: PresenceJournal
    let agent: PresenceAgent
    let directory: String
    let journalTask: Task<Void, Never>
    final class Registrations: Sendable {
        let contacts = Mutex<[String: [String]]>([:])
    }
    private let registered = Registrations()
    static let users: Set<String> = ["alice@example.com", "bob@example.com", "carol@example.com"]
    final class Removed: Sendable { let users = Mutex<Set<String>>([]) }
    /// Users the test removed from the directory (no longer homed here).
    let removed = Removed()

    init(directory: String? = nil, configuration: PresenceAgent.Configuration = PresenceAgent.Configuration()) async throws {
        let dir = directory ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("presence-\(UUID().uuidString)").path
        self.directory = dir
        store = try SQLiteStore(directory: dir)
        if directory == nil {
            for user in Self.users {
                try await store.addUser(UserRecord(aor: user, ha1MD5: Array(repeating: 0, count: 16),
                                                   ha1SHA256: Array(repeating: 0, count: 32)))
            }
        }
        layer = TransactionLayer(transport: transport)
        access = try await AccessLists.load(from: store)
        journal = PresenceJournal(store: store, flushInterval: .milliseconds(5))
        journalTask = Task { [journal] in await journal.run() }
        let registered = self.registered
        let removed = self.removed
        let environment = PresenceAgent.Environment(
            isLocalUser: { user in Self.users.contains(user) && !removed.users.withLock { $0.contains(user) } },
            registeredContacts: { aor in registered.contacts.withLock { $0[aor] ?? [] } },
            contactURI: { _ in "sip:192.0.2.1:5060" }, clock: clock.clock)
        var logger = Logger(label: "test.presence")
        logger.logLevel = .warning
        agent = PresenceAgent(configuration: configuration, environment: environment, access: access,
                              journal: journal, logger: logger)
        agent.attach(layer)
        layer.setUser { [agent] event in
            if case .request(let transaction) = event { agent.serve(transaction, authenticatedUser: nil) }
        }
    }

    func setRegistered(_ aor: String, _ contacts: [String]) {
        registered.contacts.withLock { $0[aor] = contacts }
        agent.registrationChanged(aor)
    }

    private let branches = Mutex(0)

    /// Delivers a request as if it came from `source` (198.51.100.7:5062 over UDP by
    /// default); returns the final response the agent sent for it.
    @discardableResult
    func deliver(_ text: String,
                 from source: SIPMessageSource = SIPMessageSource(transport: .udp, remote: SIPHostPort(host: "198.51.100.7", port: 5062))) -> SIPResponse? {
        let n = branches.withLock { $0 += 1; return $0 }
        var wire = text.replacing("BRANCH", with: "z9hG4bKt\(n)").split(separator: "\n", omittingEmptySubsequences: false)
            .joined(separator: "\r\n")
        if let range = wire.firstRange(of: "\r\n\r\n") {
            let body = wire[range.upperBound...]
            wire = wire.replacing("Content-Length: *", with: "Content-Length: \(body.utf8.count)")
        }
        let before = transport.responses.count
        guard let message = try? SIPParser.parseDatagram(Array(wire.utf8)) else { fatalError("bad test message\n\(text)") }
        layer.receive(message, from: source)
        return transport.responses.dropFirst(before).last { $0.statusCode >= 200 }
    }

    /// The NOTIFYs sent since `clear()`.
    var notifies: [SIPRequest] { transport.requests.filter { $0.method == .notify } }

    /// Answers a NOTIFY as the watcher would.
    func answer(_ notify: SIPRequest, _ status: Int, extra: [(String, String)] = []) {
        var response = SIPResponse(responding: notify, statusCode: status)
        for (name, value) in extra { response.headers.append(name, value) }
        layer.receive(.response(response), from: SIPMessageSource(transport: .udp, remote: SIPHostPort(host: "198.51.100.7", port: 5062)))
    }

    /// Answers every NOTIFY not answered yet with 200.
    func answerAll() {
        let all = notifies
        let start = answeredCount.withLock { n in let s = n; n = all.count; return s }
        for notify in all.dropFirst(start) { answer(notify, 200) }
    }
    private let answeredCount = Mutex(0)
    /// After `transport.clear()`: `answerAll` counts from the start again.
    func resetAnswered() { answeredCount.withLock { $0 = 0 } }

    func close() async throws {
        await journal.flush()
        journalTask.cancel()
        await journalTask.value
        try store.close()
    }
}

enum PresenceText {
    static func subscribe(watcher: String = "alice", presentity: String = "bob", callID: String = "sub-1",
                          cseq: Int = 1, toTag: String? = nil, event: String = "presence", expires: Int? = 600,
                          extra: String = "") -> String {
        """
        SUBSCRIBE sip:\(presentity)@example.com SIP/2.0
        Via: SIP/2.0/UDP 198.51.100.7:5062;branch=BRANCH
        Max-Forwards: 70
        From: <sip:\(watcher)@example.com>;tag=w-\(watcher)
        To: <sip:\(presentity)@example.com>\(toTag.map { ";tag=\($0)" } ?? "")
        Call-ID: \(callID)
        CSeq: \(cseq) SUBSCRIBE
        Contact: <sip:\(watcher)@198.51.100.7:5062>
        Event: \(event)
        \(expires.map { "Expires: \($0)\n" } ?? "")\(extra)Content-Length: 0


        """
    }

    static func pidf(_ presentity: String = "bob", basic: String, note: String? = nil, tuple: String = "t1") -> String {
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:\(presentity)@example.com">
        <tuple id="\(tuple)"><status><basic>\(basic)</basic></status>\(note.map { "<note>\($0)</note>" } ?? "")</tuple>
        </presence>
        """
    }

    static func publish(_ presentity: String = "bob", body: String?, ifMatch: String? = nil, expires: Int? = 600,
                        callID: String = "pub-1", cseq: Int = 1, event: String = "presence",
                        contentType: String = "application/pidf+xml") -> String {
        let payload = body ?? ""
        return """
        PUBLISH sip:\(presentity)@example.com SIP/2.0
        Via: SIP/2.0/UDP 198.51.100.7:5062;branch=BRANCH
        Max-Forwards: 70
        From: <sip:\(presentity)@example.com>;tag=p-\(presentity)
        To: <sip:\(presentity)@example.com>
        Call-ID: \(callID)
        CSeq: \(cseq) PUBLISH
        Event: \(event)
        \(expires.map { "Expires: \($0)\n" } ?? "")\(ifMatch.map { "SIP-If-Match: \($0)\n" } ?? "")\(body == nil ? "" : "Content-Type: \(contentType)\n")Content-Length: *

        \(payload)
        """
    }
}

extension SIPRequest {
    var bodyText: String { String(decoding: body, as: UTF8.self) }
    var subscriptionStateText: String { headers.first("Subscription-State") ?? "" }
}
