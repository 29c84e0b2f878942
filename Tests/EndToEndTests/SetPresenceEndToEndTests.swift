import Foundation
import Presence
import SIPCore
import Testing

/// pidgin-sipe's `SERVICE` setPresence (its body as captured from the plugin) reaches the
/// presence agent like a PUBLISH: a watcher's NOTIFY carries the state, the device's next
/// setPresence replaces it, and nobody sets another user's presence.
@Suite(.serialized) struct SetPresenceEndToEndTests {
    static func setPresence(availability: Int, activity: Int, presentity: String = "alice") -> String {
        #"<m:presentity xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" m:uri="sip:\#(presentity)@example.com"><m:availability m:aggregate="\#(availability)"/><m:activity m:aggregate="\#(activity)"/><deviceName xmlns="http://schemas.microsoft.com/2002/09/sip/presence" name="VM"/><device xmlns="http://schemas.microsoft.com/2002/09/sip/presence" deviceId="cf0b98dadeb9" since="2026-11-30T04:44:51Z" ><userInput since="2026-11-30T04:44:51Z" >active</userInput></device></m:presentity>"#
    }

    @Test func aWatcherSeesTheStateSetBySERVICE() async throws {
        let server = try await RunningHomeServer.start(auth: false, users: [("alice", "a", true), ("bob", "b", true)])
        let bob = try await TestUA(group: testEventLoops)
        let (alice, registered) = try await RegisteredUA.register("alice", password: "a", on: server, group: testEventLoops)
        #expect(registered?.statusCode == 200)
        try await bob.send(PresenceEndToEndTests.subscribe(bob, watcher: "bob", presentity: "alice", callID: "bob-sub"),
                           to: server.udpPort)
        #expect(await bob.response()?.statusCode == 200)
        var (_, state) = try await PresenceEndToEndTests.nextNotify(bob, port: server.udpPort)
        #expect(state?.basic == .open)
        #expect(state.flatMap(LCSState.init(summary:)) == .online)

        try await alice.send(RoamingEndToEndTests.service(alice, user: "alice", callID: "sp", cseq: 1, operation: "setPresence",
                                                          arguments: Self.setPresence(availability: 300, activity: 100)),
                             to: server.udpPort)
        let answer = try #require(await alice.response())
        #expect(answer.statusCode == 200)
        (_, state) = try await PresenceEndToEndTests.nextNotify(bob, port: server.udpPort)
        #expect(state.flatMap(LCSState.init(summary:)) == .away)

        // The same device's next setPresence replaces it (one publication per device).
        try await alice.send(RoamingEndToEndTests.service(alice, user: "alice", callID: "sp", cseq: 2, operation: "setPresence",
                                                          arguments: Self.setPresence(availability: 300, activity: 600)),
                             to: server.udpPort)
        #expect(await alice.response()?.statusCode == 200)
        (_, state) = try await PresenceEndToEndTests.nextNotify(bob, port: server.udpPort)
        #expect(state.flatMap(LCSState.init(summary:)) == .busy)

        // Appear offline: availability 0.
        try await alice.send(RoamingEndToEndTests.service(alice, user: "alice", callID: "sp", cseq: 3, operation: "setPresence",
                                                          arguments: Self.setPresence(availability: 0, activity: 100)),
                             to: server.udpPort)
        #expect(await alice.response()?.statusCode == 200)
        (_, state) = try await PresenceEndToEndTests.nextNotify(bob, port: server.udpPort)
        #expect(state?.basic == .closed)

        // Only one's own presence (403), and a malformed body is refused with its reason (400).
        try await alice.send(RoamingEndToEndTests.service(alice, user: "alice", callID: "sp", cseq: 4, operation: "setPresence",
                                                          arguments: Self.setPresence(availability: 300, activity: 400, presentity: "bob")),
                             to: server.udpPort)
        #expect(await alice.response()?.statusCode == 403)
        try await alice.send(RoamingEndToEndTests.service(alice, user: "alice", callID: "sp", cseq: 5, operation: "setPresence",
                                                          arguments: #"<m:presentity m:uri="sip:alice@example.com"/>"#),
                             to: server.udpPort)
        let refused = try #require(await alice.response())
        #expect(refused.statusCode == 400)
        #expect(refused.reasonPhrase.contains("availability"))
        await alice.close()
        await bob.close()
        try await server.stop()
    }
}
