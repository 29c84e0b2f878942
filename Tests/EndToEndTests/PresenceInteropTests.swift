import Foundation
import NIOCore
import NIOPosix
import SIPTestSupport
import Testing

/// Two unmodified Debian clients see each other's presence through the home server acting as
/// presence agent, with authentication on (both answer a 407 on SUBSCRIBE and PUBLISH with
/// MD5 digest; checked against Kamailio with auth_check/auth_challenge):
/// baresip 1.0 (`presence` module, driven through `ctrl_tcp`) as alice over UDP, linphonec 5.1
/// as bob over TCP. The same steps as `scripts/interop-presence`, which found them against
/// Kamailio's presence server; its header lists the clients' quirks. A missing client fails the
/// test (`apt-get install baresip-core linphone-cli`).
@Suite(.serialized) struct PresenceInteropTests {
    static let domain = "example.com"

    /// Polls `condition` every 100 ms until it holds or `timeout` passes.
    static func eventually(_ timeout: Duration = .seconds(15), _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return condition()
    }

    /// Whether baresip's `/contacts` shows bob with `status` (`Online`, `Offline`, ...).
    static func baresip(_ alice: BaresipProcess, sees status: String) -> Bool {
        guard let contacts = try? alice.control("contacts") else { return false }
        return contacts.split(separator: "\n").first { $0.contains("sip:bob@\(domain)") }?.contains(status) ?? false
    }

    static func count(_ needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }

    @Test func baresipAndLinphonecSeeEachOthersPresence() async throws {
        let baresipPath = try #require(BaresipInteropTests.executable,
                                       "baresip is not installed (apt-get install baresip-core; scripts/test does)")
        #expect(FileManager.default.fileExists(atPath: "/usr/lib/baresip/modules/presence.so"),
                "baresip's presence module is missing (apt-get install baresip-core)")
        let linphonecPath = try #require(LinphonecProcess.executable,
                                         "linphonec is not installed (apt-get install linphone-cli)")
        let domain = Self.domain
        let server = try await RunningHomeServer.start(domain: domain, auth: true,
                                                       users: [("alice", "alice-pw", true), ("bob", "bob-pw", true)])

        // alice: baresip, bob in its contacts with presence on, PUBLISHing (pubint) over UDP.
        let alice = try await BaresipProcess.launch(executable: baresipPath, serverPort: server.udpPort, user: "alice",
                                                    password: "alice-pw", contact: "sip:bob@\(domain)", commands: [],
                                                    domain: domain, contactParameters: ";presence=p2p",
                                                    accountParameters: ";pubint=600", withControl: true, traceSIP: true)
        defer { alice.stop() }
        let aliceRegistered = await alice.waitForOutput(timeout: .seconds(20)) { $0.contains("200 OK") && $0.contains("binding") }
        try #require(aliceRegistered, "baresip did not register:\n\(alice.output)")

        // presence.so only now: loaded from the config, it PUBLISHes "unknown" and then "open" (on
        // the REGISTER's 200) before the first PUBLISH's 200, making two publications. Loaded
        // late it PUBLISHes once and SUBSCRIBEs to bob; /presence_online refreshes that one.
        // That first body says <basic>unknown</basic>; if refused, the open PUBLISH starts anew.
        func etags() -> Int { Self.count("sip-etag:", in: alice.output.lowercased()) }
        _ = try alice.control("insmod", "presence.so")
        _ = await alice.waitForOutput(timeout: .seconds(10)) { _ in etags() >= 1 }
        let first = etags()
        _ = try alice.control("presence_online")
        let publishedOpen = await alice.waitForOutput(timeout: .seconds(10)) { _ in etags() > first }
        #expect(publishedOpen, "baresip's PUBLISH open got no SIP-ETag:\n\(alice.output)")

        // bob: linphonec over TCP; it PUBLISHes open once registered; watches alice.
        var bob = try LinphonecProcess(executable: linphonecPath, sipPort: try TestPorts.loopback(),
                                       serverPort: server.tcpPort, user: "bob", domain: domain, password: "bob-pw")
        defer { bob.stop() }
        let bobRegistered = await bob.waitUntil(timeout: .seconds(20)) { bob.sipLog.contains("LinphoneRegistrationOk") }
        try #require(bobRegistered, "linphonec did not register:\n\(bob.output)")
        let bobPublished = await bob.waitUntil(timeout: .seconds(10)) { bob.sipLog.contains("LinphonePublishOk") }
        #expect(bobPublished, "linphonec's PUBLISH was not accepted")
        var mark = bob.output.count
        bob.command("friend add \"Alice\" sip:alice@\(domain)")
        let aliceAddress = "sip:alice@\(domain)"

        let bobSeesAliceOnline = await Self.eventually { bob.lastFriendStatus(aliceAddress, after: mark) == "Online" }
        #expect(bobSeesAliceOnline,
                "linphonec did not see alice Online:\n\(bob.output)")
        let aliceSeesBobOnline = await Self.eventually { Self.baresip(alice, sees: "Online") }
        #expect(aliceSeesBobOnline,
                "baresip did not see bob Online: \((try? alice.control("contacts")) ?? "")")

        // alice goes offline and back online.
        mark = bob.output.count
        _ = try alice.control("presence_offline")
        let bobSeesAliceOffline = await Self.eventually { bob.lastFriendStatus(aliceAddress, after: mark) == "Offline" }
        #expect(bobSeesAliceOffline,
                "linphonec did not see alice Offline:\n\(bob.output)")
        mark = bob.output.count
        _ = try alice.control("presence_online")
        let bobSeesAliceOnlineAgain = await Self.eventually { bob.lastFriendStatus(aliceAddress, after: mark) == "Online" }
        #expect(bobSeesAliceOnlineAgain,
                "linphonec did not see alice Online again:\n\(bob.output)")

        // bob signs out (linphonec has no command to set its own presence): alice sees Offline.
        let subscribeReachedBob = bob.sipLog.contains("\nSUBSCRIBE sip:bob@127.0.0.1")
        #expect(!subscribeReachedBob, "a SUBSCRIBE reached linphonec: the server did not answer it as presence agent")
        await bob.quit()
        let aliceSeesBobOffline = await Self.eventually { Self.baresip(alice, sees: "Offline") }
        #expect(aliceSeesBobOffline,
                "baresip did not see bob Offline after he quit: \((try? alice.control("contacts")) ?? "")")

        // bob comes back (a new linphonec; it does not keep friends across runs).
        bob = try LinphonecProcess(executable: linphonecPath, sipPort: try TestPorts.loopback(),
                                   serverPort: server.tcpPort, user: "bob", domain: domain, password: "bob-pw")
        let bobBack = await bob.waitUntil(timeout: .seconds(20)) { bob.sipLog.contains("LinphoneRegistrationOk") }
        #expect(bobBack, "linphonec did not register again:\n\(bob.output)")
        mark = bob.output.count
        bob.command("friend add \"Alice\" sip:alice@\(domain)")
        let aliceSeesBobBack = await Self.eventually { Self.baresip(alice, sees: "Online") }
        #expect(aliceSeesBobBack,
                "baresip did not see bob Online again: \((try? alice.control("contacts")) ?? "")")
        let bobBackSeesAliceOnline = await Self.eventually { bob.lastFriendStatus(aliceAddress, after: mark) == "Online" }
        #expect(bobBackSeesAliceOnline,
                "linphonec did not see alice Online after restarting:\n\(bob.output)")

        // Both clients answer SUBSCRIBEs themselves too (baresip's notifier, liblinphone), so
        // through a plain proxy most of the above passes peer to peer. The agent answers them.
        let subscribeReachedAlice = alice.output.contains("\nSUBSCRIBE sip:alice-")
        let subscribeReachedBobAgain = bob.sipLog.contains("\nSUBSCRIBE sip:bob@127.0.0.1")
        #expect(!subscribeReachedAlice, "a SUBSCRIBE reached baresip: the server did not answer it as presence agent")
        #expect(!subscribeReachedBobAgain, "a SUBSCRIBE reached linphonec: the server did not answer it as presence agent")

        await bob.quit()
        await alice.quit()
        try await server.stop()
    }
}
