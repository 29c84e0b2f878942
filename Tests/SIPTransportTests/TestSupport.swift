import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import SIPCore
@testable import SIPTransport

/// Collects inbound messages and closed connections; `next` hands them out in order.
/// (Polls instead of awaiting an AsyncStream: a timed-out await would end such a stream.)
final class Inbox: SIPInboundHandler {
    private struct State {
        var messages: [InboundMessage] = []
        var taken = 0
        var closed: [SIPConnectionID] = []
        var inactive: [SIPConnectionID] = []
    }
    private let state = NIOLockedValueBox(State())

    func transportDidReceive(_ inbound: InboundMessage) { state.withLockedValue { $0.messages.append(inbound) } }
    func transportDidCloseConnection(_ id: SIPConnectionID, endpoint: SIPEndpoint) { state.withLockedValue { $0.closed.append(id) } }

    func transportConnectionDidClose(_ id: SIPConnectionID) { state.withLockedValue { $0.inactive.append(id) } }

    var closedConnections: [SIPConnectionID] { state.withLockedValue { $0.closed } }
    /// Ids reported by `transportConnectionDidClose` (RFC 3261 §17.1.4).
    var inactiveConnections: [SIPConnectionID] { state.withLockedValue { $0.inactive } }

    /// The next message not yet taken, or nil when none comes within the timeout.
    func next(timeout: Duration = .seconds(20)) async -> InboundMessage? {
        let deadline = ContinuousClock.now + timeout
        while true {
            let message: InboundMessage? = state.withLockedValue { s in
                guard s.taken < s.messages.count else { return nil }
                s.taken += 1
                return s.messages[s.taken - 1]
            }
            if let message { return message }
            if ContinuousClock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}

struct TimedOut: Error {}

/// Runs `body`, nil if it takes longer than `timeout` (generous: the machine is loaded).
func withTimeout<T: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> T) async rethrows -> T? {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try? await Task.sleep(for: timeout)
            return nil
        }
        let first = try await group.next() ?? nil
        group.cancelAll()
        return first
    }
}

/// The RFC 4475 / RFC 5118 fixtures of SIPCoreTests, read from the source tree.
enum Fixtures {
    static var directory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("SIPCoreTests/Fixtures")
    }

    static func names(_ folder: String) -> [String] {
        let dir = directory.appendingPathComponent(folder)
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return files.filter { $0.hasSuffix(".dat") }.sorted().map { "\(folder)/\($0)" }
    }

    static var all: [String] { names("rfc4475") + names("rfc5118") }

    static func bytes(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: directory.appendingPathComponent(name)))
    }
}

enum Sample {
    /// A small OPTIONS with the given top Via sent-by and transport.
    static func options(via: String, branch: String = "z9hG4bK-\(UInt32.random(in: 0...UInt32.max))", callID: String = "c-\(UInt32.random(in: 0...UInt32.max))",
                        body: String = "") -> [UInt8] {
        let text = "OPTIONS sip:server@127.0.0.1 SIP/2.0\r\n"
            + "Via: SIP/2.0/\(via);branch=\(branch)\r\n"
            + "Max-Forwards: 70\r\n"
            + "From: <sip:alice@example.com>;tag=a1\r\n"
            + "To: <sip:server@127.0.0.1>\r\n"
            + "Call-ID: \(callID)\r\n"
            + "CSeq: 1 OPTIONS\r\n"
            + "Content-Length: \(body.utf8.count)\r\n\r\n" + body
        return Array(text.utf8)
    }

    static func optionsMessage(via: String, callID: String = "c-1") throws -> SIPMessage {
        try SIPParser.parseDatagram(options(via: via, callID: callID))
    }

    static func request(_ message: SIPMessage?) -> SIPRequest? {
        if case .request(let r)? = message { return r }
        return nil
    }

    static func response(_ message: SIPMessage?) -> SIPResponse? {
        if case .response(let r)? = message { return r }
        return nil
    }
}

/// A server layer on loopback with the given listeners, and its inbox.
func startLayer(_ specs: [String], configuration: SIPTransportConfiguration = .init()) async throws -> (SIPTransportLayer, Inbox) {
    var logger = Logger(label: "sip.transport.test")
    logger.logLevel = ProcessInfo.processInfo.environment["SIP_TEST_LOG"] != nil ? .trace : .error
    let layer = try SIPTransportLayer(configuration: configuration, logger: logger)
    let inbox = Inbox()
    try await layer.start(specs.map { try ListenSpec(parsing: $0) }, handler: inbox)
    return (layer, inbox)
}

extension SIPTransportLayer {
    func endpoint(_ kind: SIPTransportKind, tlsServerName: String? = nil) -> SIPEndpoint {
        let listener = listeners.first { $0.spec.transport == kind }!
        return SIPEndpoint(transport: kind, address: listener.localAddress, tlsServerName: tlsServerName)
    }
}
