import Foundation
import Logging
import Roles
import SIPCore
import Synchronization
import Testing

/// `RoleServer`: the one assembly, with a policy chosen by the caller (the way
/// forwarding-proxy and front-end will install theirs).
@Suite(.serialized) struct RoleServerTests {
    /// A role that refuses everything: the policy alone differs from the home server.
    struct RefuseAll: RoutingPolicy {
        func decide(_ context: inout RoutingContext) -> RoutingDecision { .respond(StatusAnswer(403)) }  // sync: witnesses an async or a sync requirement
    }

    static func settings(auth: Bool) throws -> ServerSettings {
        var settings = ServerSettings(serverName: "127.0.0.1")
        try settings.apply([("data", try RunningHomeServer.temporaryDirectory()), ("domain", "example.com"),
                            ("listen", "udp:127.0.0.1:0"), ("auth", auth ? "on" : "off")])
        return settings
    }

    @Test func policyFactorySeesTheServicesAndItsPolicyAnswers() async throws {
        var logger = Logger(label: "test.role-server")
        logger.logLevel = .warning
        let seen = Mutex<(authenticator: Bool, domains: Set<String>)?>(nil)
        let server = try await RoleServer.start(settings: try Self.settings(auth: true), logger: logger,
                                                drainTimeout: .milliseconds(500)) { services in
            seen.withLock { $0 = (services.authenticator != nil, services.identity.domains) }
            return RefuseAll()
        }
        let task = Task { try await server.run() }
        #expect(seen.withLock { $0?.authenticator } == true)
        #expect(seen.withLock { $0?.domains } == ["example.com"])
        let port = try #require(server.port(.udp))
        #expect(port != 0)

        let ua = try await TestUA(group: testEventLoops)
        let response = try await ua.exchange(SIPText.message(from: "alice", to: "bob", domain: "example.com", uaPort: ua.port,
                                                             cseq: 1, callID: "role-\(UUID().uuidString)", body: "hi"), to: port)
        #expect(response?.statusCode == 403, "got \(response.map { "\($0.statusCode) \($0.reasonPhrase)" } ?? "no response")")
        await ua.close()
        server.stop()
        try await task.value
    }

    @Test func authOffGivesTheFactoryNoAuthenticator() async throws {
        let seen = Mutex<Bool?>(nil)
        let server = try await RoleServer.start(settings: try Self.settings(auth: false), logger: Logger(label: "t"),
                                                drainTimeout: .milliseconds(500)) { services in
            seen.withLock { $0 = services.authenticator == nil }
            return try HomeServerRole.policy(services)
        }
        let task = Task { try await server.run() }
        #expect(seen.withLock { $0 } == true)
        server.stop()
        try await task.value
    }

    @Test func aFailingFactoryFailsTheStart() async throws {
        struct NoPolicy: Error {}
        await #expect(throws: NoPolicy.self) {
            _ = try await RoleServer.start(settings: try Self.settings(auth: false), logger: Logger(label: "t")) { _ in
                throw NoPolicy()
            }
        }
    }
}
