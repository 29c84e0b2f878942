import Archive
import Foundation
import Logging
import Roles
import SIPCore
import Testing

/// `--archive-required` (issue 11): while the spool cannot be written, a MESSAGE is refused
/// with 503 and Retry-After instead of being relayed unarchived; without it, it is relayed.
/// The policy is the home server's, its archive step over a spool that is full (as a full disk).
@Suite(.serialized) struct ArchiveRequiredTests {
    /// A spool capped at a few pages and filled to the cap: every write fails.
    static func fullSpool() async throws -> ArchiveSpool {
        var configuration = ArchiveSpool.Configuration()
        configuration.maxPageCount = 16
        let spool = try ArchiveSpool(directory: try RunningHomeServer.temporaryDirectory(), configuration: configuration)
        var n = 0
        while n < 1_000 {
            let record = ArchiveRecord(messageID: "fill-\(n)", server: "t", from: "", to: "", time: 0, callID: "", cseq: 0,
                                       contentType: "", body: [UInt8](repeating: 0x2a, count: 2_000))
            do { try await spool.append([.message(record)]) } catch { break }
            n += 1
        }
        try #require(n < 1_000, "the capped spool never filled")
        return spool
    }

    func relay(required: Bool) async throws -> (SIPResponse?, SIPRequest?) {
        let spool = try await Self.fullSpool()
        let agent = ArchiveAgent(serverName: "t", spool: spool)
        let writer = Task { await agent.run() }
        let dir = try RunningHomeServer.temporaryDirectory()
        try await RunningHomeServer.provision([("alice", "a", true), ("bob", "b", true)], domain: "example.com", in: dir)
        var settings = ServerSettings(serverName: "127.0.0.1")
        try settings.apply([("data", dir), ("domain", "example.com"), ("listen", "udp:127.0.0.1:0"), ("auth", "off")])
        var logger = Logger(label: "test.archive-required")
        logger.logLevel = .critical
        let log = logger
        let server = try await RoleServer.start(settings: settings, logger: logger, drainTimeout: .milliseconds(500)) { s in
            HomeServerPolicy(identity: s.identity, registrar: s.registrar, location: s.location, authenticator: nil,
                             archive: ArchiveStep(agent: agent, required: required, logger: log))
        }
        let task = Task { try await server.run() }
        let port = try #require(server.port(.udp))
        let bob = try await TestUA(group: testEventLoops)
        try await bob.send(SIPText.register(user: "bob", domain: "example.com", uaPort: bob.port, cseq: 1, callID: "r"), to: port)
        #expect(await bob.response()?.statusCode == 200)
        let alice = try await TestUA(group: testEventLoops)
        try await alice.send(SIPText.message(from: "alice", to: "bob", domain: "example.com", uaPort: alice.port, cseq: 1,
                                             callID: "required-\(required)", body: "hi"), to: port)
        var relayed: SIPRequest?
        if !required {
            relayed = await bob.request()
            if let relayed { try await bob.answer(relayed, 200, to: port) }
        }
        let response = await alice.response()
        if required { relayed = await bob.mailbox.next(timeout: .milliseconds(300)).flatMap { if case .request(let r) = $0 { r } else { nil } } }
        #expect(!agent.isWritable)
        await alice.close()
        await bob.close()
        server.stop()
        try await task.value
        writer.cancel()
        await writer.value
        return (response, relayed)
    }

    @Test func requiredRefusesWith503() async throws {
        let (response, relayed) = try await relay(required: true)
        #expect(response?.statusCode == 503)
        #expect(response?.headers.first("Retry-After") == "5")
        #expect(relayed == nil)
    }

    @Test func notRequiredRelaysUnarchived() async throws {
        let (response, relayed) = try await relay(required: false)
        #expect(response?.statusCode == 200)
        #expect(relayed?.method == .message)
    }
}
