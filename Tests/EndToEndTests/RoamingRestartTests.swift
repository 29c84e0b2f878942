import Foundation
import Presence
import SIPCore
import Store
import Testing

/// Roaming subscriptions survive a restart of the home server (persisted like presence
/// subscriptions, through the presence journal): the device's in-dialog refresh is accepted
/// (not 481), a later change is NOTIFYed in the same dialog, and an unsubscribe ends it.
@Suite(.serialized) struct RoamingRestartTests {
    @Test func aRefreshAfterARestartIsAcceptedInItsDialog() async throws {
        let dir = try RunningHomeServer.temporaryDirectory()
        try await RunningHomeServer.provision([("alice", "a", true)], domain: "example.com", in: dir)
        var server = try await RunningHomeServer.start(dataDirectory: dir, auth: false)
        let phone = try await TestUA(group: testEventLoops)
        let laptop = try await TestUA(group: testEventLoops)

        try await phone.send(RoamingEndToEndTests.subscribe(phone, user: "alice", event: "vnd-microsoft-roaming-contacts",
                                                            callID: "phone-rc"), to: server.udpPort)
        let first = try #require(await phone.response())
        #expect(first.statusCode == 200)
        let ourTag = try #require(first.to?.tag)
        try await phone.send(RoamingEndToEndTests.subscribe(phone, user: "alice", event: "vnd-microsoft-roaming-ACL",
                                                            callID: "phone-acl"), to: server.udpPort)
        let acl = try #require(await phone.response())
        #expect(acl.statusCode == 200)
        let aclTag = try #require(acl.to?.tag)

        // A graceful stop writes what the journal holds; a new process reads it back.
        try await server.stop()
        server = try await RunningHomeServer.start(dataDirectory: dir, auth: false)

        try await phone.send(RoamingEndToEndTests.subscribe(phone, user: "alice", event: "vnd-microsoft-roaming-contacts",
                                                            callID: "phone-rc", cseq: 2, toTag: ourTag), to: server.udpPort)
        let refreshed = try #require(await phone.response())
        #expect(refreshed.statusCode == 200, "a refresh after the restart got \(refreshed.statusCode)")
        #expect(refreshed.headers.first("Content-Type") == RoamingDocuments.contactsContentType)
        try await phone.send(RoamingEndToEndTests.subscribe(phone, user: "alice", event: "vnd-microsoft-roaming-ACL",
                                                            callID: "phone-acl", cseq: 2, toTag: aclTag), to: server.udpPort)
        #expect(await phone.response()?.statusCode == 200)

        // Another device's change reaches the phone in its old dialog (same Call-ID and tags).
        try await laptop.send(RoamingEndToEndTests.service(laptop, user: "alice", callID: "laptop-svc", cseq: 1,
                                                           operation: "addGroup",
                                                           arguments: "<m:name>Work</m:name><m:externalURI /><m:deltaNum>0</m:deltaNum>"),
                              to: server.udpPort)
        #expect(await laptop.response()?.statusCode == 200)
        let notify = try #require(await RoamingEndToEndTests.notify(on: phone, containing: #"name="Work""#, port: server.udpPort))
        #expect(notify.callID == "phone-rc")
        #expect(notify.from?.tag == ourTag)
        #expect(notify.to?.tag == "d-phone-rc")
        try await phone.answer(notify, 200, toTag: "d-phone-rc", to: server.udpPort)

        // Unsubscribed, the dialog is gone, and stays gone after another restart.
        try await phone.send(RoamingEndToEndTests.subscribe(phone, user: "alice", event: "vnd-microsoft-roaming-contacts",
                                                            callID: "phone-rc", cseq: 3, toTag: ourTag, expires: 0),
                             to: server.udpPort)
        #expect(await phone.response()?.statusCode == 200)
        try await server.stop()
        server = try await RunningHomeServer.start(dataDirectory: dir, auth: false)
        #expect(try await phone.exchange(RoamingEndToEndTests.subscribe(phone, user: "alice", event: "vnd-microsoft-roaming-contacts",
                                                                        callID: "phone-rc", cseq: 4, toTag: ourTag),
                                         to: server.udpPort)?.statusCode == 481)
        try await server.stop()
        await phone.close()
        await laptop.close()
    }
}
