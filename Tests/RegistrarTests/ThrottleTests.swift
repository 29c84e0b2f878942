import Logging
import SIPCore
import Synchronization
import Testing
@testable import Registrar
@testable import Store

/// Failed-authentication throttling (RFC 2617 §4.7 online dictionary attacks): per source
/// address and per (user, source), never per user alone.
@Suite("Failed-authentication throttling")
struct ThrottleTests {
    static let attacker = "198.51.100.7"
    static let home = "192.0.2.10"

    /// A REGISTER for `user` answered with `password` against a fresh challenge from `source`.
    static func attempt(_ h: Harness, user: String = "alice", password: String, source: String, cseq: Int) async throws -> SIPResponse {
        let first = await h.register(try registerRequest(user, cseq: cseq), auth: true, source: source)
        guard first.statusCode == 401, let challenge = first.headers["WWW-Authenticate"].first else { return first }
        let credentials = authorization(user: user, password: password, challenge: challenge, cnonce: "c\(cseq)")
        return await h.register(try registerRequest(user, cseq: cseq + 1, headers: [credentials]), auth: true, source: source)
    }

    @Test func fiveWrongAnswersForOneUserFromOneSourceAreThrottled() async throws {
        let h = try await Harness()
        defer { h.remove() }
        for i in 0..<5 {
            #expect(try await Self.attempt(h, password: "guess\(i)", source: Self.attacker, cseq: 10 * i).statusCode == 401)
        }
        // Cooling off: refused even with the right password, without a challenge.
        let refused = try await Self.attempt(h, password: "alice-pw", source: Self.attacker, cseq: 100)
        #expect(refused.statusCode == 403)
        #expect(refused.reasonPhrase == "Forbidden (too many failed attempts)")
        #expect(refused.headers["WWW-Authenticate"].isEmpty)
        #expect(await h.registrar.lookup("alice@example.com").isEmpty)
        // Alice from her own address is not locked out.
        #expect(try await Self.attempt(h, password: "alice-pw", source: Self.home, cseq: 200).statusCode == 200)
        // Carol from the attacker's address is not either (the per-user-and-source limit).
        #expect(try await Self.attempt(h, user: "carol", password: "carol-pw", source: Self.attacker, cseq: 300).statusCode == 200)
        // After the cooling-off period the right password works from there too.
        h.clock.advance(61)
        #expect(try await Self.attempt(h, password: "alice-pw", source: Self.attacker, cseq: 400).statusCode == 200)
    }

    @Test func tenFailuresOverAnyUsersThrottleTheSource() async throws {
        let h = try await Harness()
        defer { h.remove() }
        // Unknown usernames count as failures too (enumeration and guessing alike).
        for i in 0..<10 {
            let user = i % 2 == 0 ? "nobody\(i)" : "carol"
            let status = try await Self.attempt(h, user: user, password: "guess\(i)", source: Self.attacker, cseq: 10 * i).statusCode
            #expect(status == 401, "attempt \(i)")
        }
        // The whole source is refused now, even its first request without credentials.
        let bare = await h.register(try registerRequest("alice", cseq: 500), auth: true, source: Self.attacker)
        #expect(bare.statusCode == 403)
        #expect(try await Self.attempt(h, password: "alice-pw", source: Self.attacker, cseq: 510).statusCode == 403)
        // Other sources are not.
        #expect(try await Self.attempt(h, user: "carol", password: "carol-pw", source: Self.home, cseq: 520).statusCode == 200)
    }

    /// A missing Authorization (the normal first request) is not a failure.
    @Test func requestsWithoutCredentialsAreNotFailures() async throws {
        let h = try await Harness()
        defer { h.remove() }
        for i in 0..<30 {
            #expect(await h.register(try registerRequest(cseq: i), auth: true, source: Self.attacker).statusCode == 401)
        }
        #expect(try await Self.attempt(h, password: "alice-pw", source: Self.attacker, cseq: 100).statusCode == 200)
    }

    /// A success clears the (user, source) count: 4 typos, success, 4 typos is not throttled
    /// (the per-source count, 8, stays under its limit of 10).
    @Test func successClearsTheUserAndSourceCount() async throws {
        let h = try await Harness()
        defer { h.remove() }
        for round in 0..<2 {
            for i in 0..<4 {
                #expect(try await Self.attempt(h, password: "typo", source: Self.home, cseq: 100 * round + 10 * i).statusCode == 401)
            }
            #expect(try await Self.attempt(h, password: "alice-pw", source: Self.home, cseq: 100 * round + 90).statusCode == 200)
            h.clock.advance(1)
        }
    }

    /// Without a source (library callers that do not pass one) nothing is throttled.
    @Test func noSourceNoThrottling() async throws {
        let h = try await Harness()
        defer { h.remove() }
        for i in 0..<12 {
            let first = await h.register(try registerRequest(cseq: 10 * i), auth: true)
            let wrong = authorization(password: "guess", challenge: first.headers["WWW-Authenticate"][0])
            #expect(await h.register(try registerRequest(cseq: 10 * i + 1, headers: [wrong]), auth: true).statusCode == 401)
        }
    }

    /// One notice line names the source and the AOR when a source starts cooling off.
    @Test func throttlingIsLoggedOnceAtNotice() async throws {
        let records = LogRecords()
        let logger = Logger(label: "test.auth") { _ in CapturingLogHandler(records) }
        let h = try await Harness()
        defer { h.remove() }
        let authenticator = DigestAuthenticator(directory: h.directory, configuration: h.authenticator.configuration,
                                                clock: h.clock.storeClock, logger: logger)
        for i in 0..<7 {
            let request = try registerRequest(cseq: 10 * i)
            guard case .respond(let challenge) = await authenticator.authenticate(request, source: Self.attacker),
                  let value = challenge.headers["WWW-Authenticate"].first else { continue }
            let wrong = authorization(password: "guess", challenge: value)
            _ = await authenticator.authenticate(try registerRequest(cseq: 10 * i + 1, headers: [wrong]), source: Self.attacker)
        }
        let notices = records.all.filter { $0.level == .notice }
        #expect(notices.count == 1)
        let line = try #require(notices.first)
        #expect(line.metadata["connection.peer"] == Self.attacker)
        #expect(line.metadata["sip.aor"] == "alice@example.com")
    }

    @Test func tablesStayBoundedAndFloodingDoesNotLiftALockout() {
        var configuration = AuthenticationThrottle.Configuration()
        configuration.capacity = 8
        let throttle = AuthenticationThrottle(configuration: configuration)
        for _ in 0..<5 { throttle.recordFailure(source: "203.0.113.1", user: "alice@example.com", now: 1000) }
        #expect(throttle.check(source: "203.0.113.1", user: "alice@example.com", now: 1001) == .throttled(until: 1060))
        // Failures from a thousand other (spoofed) addresses.
        for i in 0..<1000 { throttle.recordFailure(source: "10.0.\(i / 256).\(i % 256)", user: "u\(i)@example.com", now: 1002) }
        #expect(throttle.trackedCount <= 4 * 8)
        #expect(throttle.check(source: "203.0.113.1", user: "alice@example.com", now: 1003) == .throttled(until: 1060))
        #expect(throttle.check(source: "203.0.113.1", user: "alice@example.com", now: 1060) == .allowed)
    }

    @Test func failuresOutsideTheWindowDoNotAddUp() {
        let throttle = AuthenticationThrottle(configuration: AuthenticationThrottle.Configuration())
        for i in 0..<20 {
            let effect = throttle.recordFailure(source: "203.0.113.1", user: "alice@example.com", now: 1000 + Int64(i) * 100)
            #expect(effect == .counted, "failure \(i)")
        }
    }
}

/// Log records a test inspects.
final class LogRecords: Sendable {
    struct Record: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }
    private let records = Mutex<[Record]>([])
    func append(_ record: Record) { records.withLock { $0.append(record) } }
    var all: [Record] { records.withLock { $0 } }
}

struct CapturingLogHandler: LogHandler {
    let records: LogRecords
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    init(_ records: LogRecords) { self.records = records }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var flat: [String: String] = [:]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) { flat[key] = "\(value)" }
        records.append(.init(level: event.level, message: "\(event.message)", metadata: flat))
    }
}
