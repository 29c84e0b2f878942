import Foundation
import Logging
import OutOfOffice
import Roles
import SIPCore
import Testing

/// Examples/custom-policy-server: the home server's policy with a step of the user's own
/// (`OutOfOfficeStep` before `location`), over real loopback sockets and a real SQLite file.
@Suite(.serialized) struct OutOfOfficeEndToEndTests {
    static let awayText = "On holiday until Monday"

    /// The custom role's policy (`OutOfOfficeServerRole.policy`) in the one server assembly.
    struct RunningCustomServer {
        let server: RoleServer
        let task: Task<Void, any Error>
        let domain = "example.com"
        var udpPort: Int { server.port(.udp) ?? 0 }

        static func start(auth: Bool, away: AwayList, users: [(String, String, Bool)]) async throws -> RunningCustomServer {
            let dir = try RunningHomeServer.temporaryDirectory()
            try await RunningHomeServer.provision(users, domain: "example.com", in: dir)
            var settings = ServerSettings(serverName: "127.0.0.1")
            try settings.apply([("data", dir), ("domain", "example.com"), ("listen", "udp:127.0.0.1:0"),
                                ("auth", auth ? "on" : "off")])
            var logger = Logger(label: "test.custom-policy-server")
            logger.logLevel = .warning
            let server = try await RoleServer.start(settings: settings, logger: logger, drainTimeout: .milliseconds(500)) {
                try OutOfOfficeServerRole.policy($0, away: away)
            }
            let task = Task { try await server.run() }
            return RunningCustomServer(server: server, task: task)
        }

        func register(_ user: String, password: String) async throws -> (TestUA, SIPResponse?) {
            try await RegisteredUA.register(user, password: password, domain: domain, serverPort: udpPort,
                                            group: testEventLoops)
        }

        func stop() async throws {
            server.stop()
            try await task.value
        }
    }

    /// The requests and the final response `ua` receives until it has seen a final response
    /// and `requests` requests (or the mailbox times out); requests are answered 200.
    static func collect(_ ua: TestUA, requests wanted: Int, serverPort: Int) async throws -> ([SIPRequest], SIPResponse?) {
        var requests: [SIPRequest] = []
        var final: SIPResponse?
        while final == nil || requests.count < wanted, let message = await ua.mailbox.next() {
            switch message {
            case .request(let r):
                requests.append(r)
                try await ua.answer(r, 200, to: serverPort)
            case .response(let r) where r.statusCode >= 200:
                final = r
            case .response:
                continue
            }
        }
        return (requests, final)
    }

    @Test func awayUserStillGetsTheMessageAndTheSenderGetsTheAutoReply() async throws {
        let server = try await RunningCustomServer.start(
            auth: true, away: AwayList(["bob@example.com": Self.awayText]),
            users: [("alice", "pw-a", true), ("bob", "pw-b", true)])
        let (bob, bobRegistered) = try await server.register("bob", password: "pw-b")
        let (alice, aliceRegistered) = try await server.register("alice", password: "pw-a")
        #expect(bobRegistered?.statusCode == 200 && aliceRegistered?.statusCode == 200)

        // Alice's MESSAGE, with digest: the step sees it once authenticated.
        try await alice.send(SIPText.message(from: "alice", to: "bob", domain: server.domain, uaPort: alice.port, cseq: 1,
                                             callID: "ooo-1", body: "hello bob"), to: server.udpPort)
        let challengeResponse = try #require(await alice.response())
        #expect(challengeResponse.statusCode == 407)
        let challenge = try #require(TestDigest.challenge(in: challengeResponse, header: "Proxy-Authenticate", algorithm: "MD5"))
        let credentials = TestDigest.authorization(challenge: challenge, user: "alice", password: "pw-a", method: "MESSAGE",
                                                   uri: "sip:bob@\(server.domain)")
        try await alice.send(SIPText.message(from: "alice", to: "bob", domain: server.domain, uaPort: alice.port, cseq: 2,
                                             callID: "ooo-1", body: "hello bob", proxyAuthorization: credentials),
                             to: server.udpPort)

        // The original is delivered to bob's device.
        let relayed = try #require(await bob.request())
        #expect(relayed.method == .message)
        #expect(String(decoding: relayed.body, as: UTF8.self) == "hello bob")
        #expect(relayed.headers.first("Auto-Submitted") == nil)
        try await bob.answer(relayed, 200, to: server.udpPort)

        // Alice gets bob's 200 and, from the server, bob's automatic reply.
        let (requests, final) = try await Self.collect(alice, requests: 1, serverPort: server.udpPort)
        #expect(final?.statusCode == 200)
        #expect(final?.callID == "ooo-1")
        let reply = try #require(requests.first)
        #expect(requests.count == 1)
        #expect(reply.method == .message)
        #expect(reply.uri.sipURI?.port == alice.port)  // alice's registered contact
        #expect(reply.from?.uri.description == "sip:bob@example.com")
        #expect(reply.to?.uri.description == "sip:alice@example.com")
        #expect(reply.headers.first("Auto-Submitted") == "auto-replied")
        #expect(String(decoding: reply.body, as: UTF8.self) == Self.awayText)
        #expect(reply.callID != "ooo-1")  // a request of its own, not part of alice's

        await alice.close()
        await bob.close()
        try await server.stop()
    }

    @Test func noAutoReplyForAUserWhoIsNotAwayAndOnlyOneAnHour() async throws {
        let server = try await RunningCustomServer.start(
            auth: false, away: AwayList(["bob@example.com": Self.awayText]),
            users: [("alice", "a", true), ("bob", "b", true), ("carol", "c", true)])
        let (carol, carolRegistered) = try await server.register("carol", password: "c")
        let (bob, bobRegistered) = try await server.register("bob", password: "b")
        let (alice, aliceRegistered) = try await server.register("alice", password: "a")
        #expect(carolRegistered?.statusCode == 200 && bobRegistered?.statusCode == 200 && aliceRegistered?.statusCode == 200)

        // Carol is not away: her MESSAGE is delivered and nothing comes back but her 200.
        try await alice.send(SIPText.message(from: "alice", to: "carol", domain: server.domain, uaPort: alice.port, cseq: 1,
                                             callID: "ooo-2", body: "hi carol"), to: server.udpPort)
        let relayed = try #require(await carol.request())
        #expect(String(decoding: relayed.body, as: UTF8.self) == "hi carol")
        try await carol.answer(relayed, 200, to: server.udpPort)
        let (requests, final) = try await Self.collect(alice, requests: 0, serverPort: server.udpPort)
        #expect(final?.statusCode == 200)
        #expect(requests.isEmpty)

        // Then bob, who is away: the first request alice receives at all is bob's reply (a
        // reply about carol would have been sent before carol even had her message).
        try await alice.send(SIPText.message(from: "alice", to: "bob", domain: server.domain, uaPort: alice.port, cseq: 2,
                                             callID: "ooo-3", body: "hi bob"), to: server.udpPort)
        let toBob = try #require(await bob.request())
        try await bob.answer(toBob, 200, to: server.udpPort)
        let (replies, _) = try await Self.collect(alice, requests: 1, serverPort: server.udpPort)
        #expect(replies.count == 1)
        #expect(replies.first?.from?.uri.description == "sip:bob@example.com")
        #expect(replies.first.map { String(decoding: $0.body, as: UTF8.self) } == Self.awayText)

        // A second MESSAGE to bob within the hour is delivered without another reply.
        try await alice.send(SIPText.message(from: "alice", to: "bob", domain: server.domain, uaPort: alice.port, cseq: 3,
                                             callID: "ooo-4", body: "still there?"), to: server.udpPort)
        let again = try #require(await bob.request())
        #expect(String(decoding: again.body, as: UTF8.self) == "still there?")
        try await bob.answer(again, 200, to: server.udpPort)
        let (more, secondFinal) = try await Self.collect(alice, requests: 0, serverPort: server.udpPort)
        #expect(secondFinal?.statusCode == 200)
        #expect(more.isEmpty)

        await alice.close()
        await bob.close()
        await carol.close()
        try await server.stop()
    }

    @Test func awayValuesAreParsedAndBadOnesRefused() throws {
        let list = try AwayList(parsing: ["bob@Example.COM=\"On holiday, back Monday\"", "carol@example.com = Out"])
        #expect(list.text(for: "bob@example.com") == "On holiday, back Monday")
        #expect(list.text(for: "sip:carol@EXAMPLE.com") == "Out")
        #expect(list.text(for: "alice@example.com") == nil)
        for bad in ["bob@example.com", "bob=away", "bob@example.com=", "@example.com=x"] {
            #expect(throws: RolesError.self) { try AwayList(parsing: [bad]) }
        }
    }
}
