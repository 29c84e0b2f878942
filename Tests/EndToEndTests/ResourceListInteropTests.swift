import Foundation
import Store
import SIPTestSupport
import Testing

/// Debian's linphonec 5.1, unmodified, with a bodyless RFC 4662 list (`[sip] bodyless_lists`)
/// naming alice's roaming list: one list SUBSCRIBE (digest on) shows the members' presence.
@Suite(.serialized) struct ResourceListInteropTests {
    @Test func linphonecShowsItsListMembersFromOneSubscription() async throws {
        let linphonecPath = try #require(LinphonecProcess.executable,
                                         "linphonec is not installed (apt-get install linphone-cli)")
        let dir = try RunningHomeServer.temporaryDirectory()
        try await RunningHomeServer.provision([("alice", "alice-pw", true), ("bob", "bob-pw", true)],
                                              domain: "example.com", in: dir)
        do {
            let store = try SQLiteStore(directory: dir)
            let group = try await store.apply(user: "alice@example.com", .addGroup(name: "Friends"))
            _ = try await store.apply(user: "alice@example.com",
                                      .setContact(RoamingContact(uri: "bob@example.com", name: "Bob", groups: [group.addedGroupID!])))
            try store.close()
        }
        let server = try await RunningHomeServer.start(dataDirectory: dir, auth: true)
        let alice = try LinphonecProcess(executable: linphonecPath, sipPort: try TestPorts.loopback(),
                                         serverPort: server.tcpPort, user: "alice", domain: "example.com",
                                         password: "alice-pw",
                                         extraSIP: "bodyless_lists=sip:alice+contacts@example.com")
        defer { alice.stop() }
        let offline = await alice.waitUntil(timeout: .seconds(20)) { alice.lastFriendStatus("sip:bob@example.com") == "Offline" }
        #expect(offline, "linphonec did not show bob from the list:\n\(alice.output)")

        let (bob, registered) = try await RegisteredUA.register("bob", password: "bob-pw", on: server, group: testEventLoops)
        #expect(registered?.statusCode == 200)
        let online = await alice.waitUntil(timeout: .seconds(10)) { alice.lastFriendStatus("sip:bob@example.com") == "Online" }
        #expect(online, "linphonec did not see bob sign in:\n\(alice.output)")
        #expect(alice.sipLog.contains("SUBSCRIBE sip:alice+contacts@example.com"))
        await alice.quit()
        await bob.close()
        try await server.stop()
    }
}
