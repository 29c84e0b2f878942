import Foundation
import Presence
import SIPCore
import Store
import Testing

/// LCS 2003's roaming services on the home server over real UDP sockets and a real SQLite
/// file, with the wire forms Pidgin's SIMPLE protocol and pidgin-sipe use: the REGISTER
/// 200's extras, self-subscriptions answered with the document in the 200, SERVICE/SOAP
/// operations persisted and NOTIFYed to the user's other device, directory search.
@Suite(.serialized) struct RoamingEndToEndTests {
    static func subscribe(_ ua: TestUA, user: String, event: String, callID: String, cseq: Int = 1,
                          toTag: String? = nil, expires: Int = 600, extra: String = "") -> String {
        """
        SUBSCRIBE sip:\(user)@example.com SIP/2.0
        Via: SIP/2.0/UDP 127.0.0.1:\(ua.port);branch=z9hG4bK-rs-\(callID)-\(cseq);rport
        Max-Forwards: 70
        From: <sip:\(user)@example.com>;tag=d-\(callID)
        To: <sip:\(user)@example.com>\(toTag.map { ";tag=\($0)" } ?? "")
        Call-ID: \(callID)
        CSeq: \(cseq) SUBSCRIBE
        Contact: <sip:\(user)@127.0.0.1:\(ua.port)>
        Event: \(event)
        Accept: application/vnd-microsoft-roaming-contacts+xml
        Supported: com.microsoft.autoextend, ms-benotify, ms-piggyback-first-notify
        \(extra)Expires: \(expires)
        Content-Length: 0


        """
    }

    /// A SERVICE with `operation`'s SOAP body, as pidgin-sipe writes it.
    static func service(_ ua: TestUA, user: String, target: String? = nil, callID: String, cseq: Int,
                        operation: String, arguments: String, extraBody: String = "",
                        authorization: String? = nil) -> String {
        """
        SERVICE sip:\(target ?? "\(user)@example.com") SIP/2.0
        Via: SIP/2.0/UDP 127.0.0.1:\(ua.port);branch=z9hG4bK-svc-\(callID)-\(cseq);rport
        Max-Forwards: 70
        From: <sip:\(user)@example.com>;tag=s-\(callID)
        To: <sip:\(target ?? "\(user)@example.com")>
        Call-ID: \(callID)
        CSeq: \(cseq) SERVICE
        Contact: <sip:\(user)@127.0.0.1:\(ua.port)>
        Proxy-Require: ms-benotify
        Content-Type: application/SOAP+xml
        \(authorization.map { "Proxy-Authorization: \($0)\n" } ?? "")Content-Length: *

        <SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body><m:\(operation) xmlns:m="http://schemas.microsoft.com/winrtc/2002/11/sip">\(arguments)</m:\(operation)>\(extraBody)</SOAP-ENV:Body></SOAP-ENV:Envelope>
        """
    }

    static func body(_ response: SIPResponse) -> String { String(decoding: response.body, as: UTF8.self) }
    static func body(_ request: SIPRequest) -> String { String(decoding: request.body, as: UTF8.self) }

    /// The next NOTIFY whose body contains `text`. Earlier ones (a retransmission of a NOTIFY
    /// answered late on a loaded machine, or a state an earlier change produced) are answered
    /// 200 and skipped; at most 5.
    static func notify(on ua: TestUA, containing text: String, port: Int) async throws -> SIPRequest? {
        for _ in 0..<5 {
            guard let request = await ua.request() else { return nil }
            if body(request).contains(text) { return request }
            try await ua.answer(request, 200, toTag: request.to?.tag ?? "", to: port)
        }
        return nil
    }

    @Test func registerAnswerCarriesTheLCSExtras() async throws {
        let server = try await RunningHomeServer.start(auth: false, users: [("alice", "a", true)])
        let (ua, ok) = try await RegisteredUA.register("alice", password: "a", on: server, group: testEventLoops)
        let response = try #require(ok)
        #expect(response.statusCode == 200)
        // One line, comma-separated without spaces (pidgin-sipe splits on "," alone).
        let wire = String(decoding: SIPMessage.response(response).serialized(), as: UTF8.self)
        #expect(wire.contains(
            "Allow-Events: presence,presence.wpending,vnd-microsoft-roaming-contacts,vnd-microsoft-roaming-ACL,vnd-microsoft-provisioning\r\n"))
        let expires = try #require(response.headers.first("Expires").flatMap { Int($0) })
        #expect(expires > 3500 && expires <= 3600)
        #expect(response.headers.first("Supported")?.contains("msrtc-event-categories") != true)
        await ua.close()
        try await server.stop()
    }

    @Test func twoDevicesSeeEachOthersListChanges() async throws {
        let dir = try RunningHomeServer.temporaryDirectory()
        try await RunningHomeServer.provision([("alice", "a", true), ("bob", "b", true)], domain: "example.com", in: dir)
        do {
            let store = try SQLiteStore(directory: dir)
            let group = try await store.apply(user: "alice@example.com", .addGroup(name: "Friends"))
            _ = try await store.apply(user: "alice@example.com",
                                      .setContact(RoamingContact(uri: "bob@example.com", name: "Bob", groups: [group.addedGroupID!])))
            try store.close()
        }
        let server = try await RunningHomeServer.start(dataDirectory: dir, auth: false)
        let laptop = try await TestUA(group: testEventLoops)
        let phone = try await TestUA(group: testEventLoops)

        // Pidgin reads the list from the 200 to its SUBSCRIBE (Event set, contact URIs without sip:).
        try await laptop.send(Self.subscribe(laptop, user: "alice", event: "vnd-microsoft-roaming-contacts",
                                             callID: "laptop-rc", extra: "Proxy-Require: ms-benotify\n"), to: server.udpPort)
        let first = try #require(await laptop.response())
        #expect(first.statusCode == 200)
        #expect(first.headers.first("Event") == "vnd-microsoft-roaming-contacts")
        #expect(first.headers.first("Content-Type") == RoamingDocuments.contactsContentType)
        #expect(Self.body(first).contains(#"<contactList deltaNum="2">"#))
        #expect(Self.body(first).contains(#"<group id="1" name="Friends"/>"#))
        #expect(Self.body(first).contains(#"<contact uri="bob@example.com" name="Bob" groups="1" subscribed="true"/>"#))
        // It supports ms-piggyback-first-notify: the 200 says it carries the first NOTIFY's
        // body, with that NOTIFY's CSeq (pidgin-sipe reads the body only then).
        #expect(first.headers["Supported"].contains("ms-piggyback-first-notify"))
        let piggybackSeq = try #require(first.headers.first("ms-piggyback-cseq").flatMap { UInt32($0) })

        // The phone does not: its 200 carries the list all the same, without the piggyback headers.
        try await phone.send(Self.subscribe(phone, user: "alice", event: "vnd-microsoft-roaming-contacts", callID: "phone-rc")
            .replacingOccurrences(of: ", ms-piggyback-first-notify", with: ""), to: server.udpPort)
        let phoneFirst = try #require(await phone.response())
        #expect(phoneFirst.statusCode == 200)
        #expect(Self.body(phoneFirst).contains(#"<group id="1" name="Friends"/>"#))
        #expect(phoneFirst.headers.first("ms-piggyback-cseq") == nil)

        // The laptop adds a group (sipe reads Body/addGroup/groupID) and a contact in it.
        try await laptop.send(Self.service(laptop, user: "alice", callID: "laptop-svc", cseq: 1, operation: "addGroup",
                                           arguments: "<m:name>Work</m:name><m:externalURI /><m:deltaNum>2</m:deltaNum>"),
                              to: server.udpPort)
        let added = try #require(await laptop.response())
        #expect(added.statusCode == 200)
        #expect(Self.body(added).contains("<m:groupID>2</m:groupID>"))
        var notify = try #require(await Self.notify(on: phone, containing: #"name="Work""#, port: server.udpPort))
        #expect(notify.method == .notify)
        #expect(notify.headers.first("Event") == "vnd-microsoft-roaming-contacts")
        #expect(Self.body(notify).contains(#"<group id="2" name="Work"/>"#))
        try await phone.answer(notify, 200, toTag: notify.to?.tag ?? "", to: server.udpPort)

        try await laptop.send(Self.service(laptop, user: "alice", callID: "laptop-svc", cseq: 2, operation: "setContact",
                                           arguments: "<m:displayName>Carol</m:displayName><m:groups>2</m:groups><m:subscribed>true</m:subscribed><m:URI>sip:carol@example.org</m:URI><m:externalURI /><m:deltaNum>3</m:deltaNum>"),
                              to: server.udpPort)
        #expect(await laptop.response()?.statusCode == 200)
        notify = try #require(await Self.notify(on: phone, containing: "carol@example.org", port: server.udpPort))
        #expect(Self.body(notify).contains(#"<contact uri="carol@example.org" name="Carol" groups="2" subscribed="true"/>"#))
        #expect(Self.body(notify).contains(#"deltaNum="4""#))
        try await phone.answer(notify, 200, toTag: notify.to?.tag ?? "", to: server.udpPort)

        // The phone removes bob; the laptop is told. The laptop named its deltaNum in its
        // SERVICEs (it holds version 4, the answer to its setContact said so): it gets a
        // contactDelta from 4 to 5, not the whole list (the phone, which never sent a SERVICE
        // before, got whole lists above).
        try await phone.send(Self.service(phone, user: "alice", callID: "phone-svc", cseq: 1, operation: "deleteContact",
                                          arguments: "<m:URI>sip:bob@example.com</m:URI><m:deltaNum>4</m:deltaNum>"),
                             to: server.udpPort)
        #expect(await phone.response()?.statusCode == 200)
        notify = try #require(await Self.notify(on: laptop, containing: #"deltaNum="5""#, port: server.udpPort))
        // The laptop's first real NOTIFY comes after the one its 200 stood for.
        #expect(try notify.cseq.map { $0.sequence > piggybackSeq } == true)
        #expect(Self.body(notify).contains(#"<contactDelta deltaNum="5" prevDeltaNum="4"><deletedContact uri="bob@example.com"/></contactDelta>"#))
        #expect(!Self.body(notify).contains("<contactList"))
        try await laptop.answer(notify, 200, toTag: notify.to?.tag ?? "", to: server.udpPort)
        // Now the phone, too, is known (at 5): the laptop's next change reaches it as a delta.
        try await laptop.send(Self.service(laptop, user: "alice", callID: "laptop-svc", cseq: 5, operation: "modifyGroup",
                                           arguments: "<m:groupID>2</m:groupID><m:name>Office</m:name><m:externalURI /><m:deltaNum>5</m:deltaNum>"),
                              to: server.udpPort)
        #expect(await laptop.response()?.statusCode == 200)
        notify = try #require(await Self.notify(on: phone, containing: #"deltaNum="6""#, port: server.udpPort))
        #expect(Self.body(notify).contains(#"<contactDelta deltaNum="6" prevDeltaNum="5"><modifiedGroup id="2" name="Office"/></contactDelta>"#))
        try await phone.answer(notify, 200, toTag: notify.to?.tag ?? "", to: server.udpPort)

        // A malformed body: 400 with the reason, nothing stored.
        try await laptop.send(Self.service(laptop, user: "alice", callID: "laptop-svc", cseq: 3, operation: "setContact",
                                           arguments: "<m:displayName>x</m:displayName>"), to: server.udpPort)
        let refused = try #require(await laptop.response())
        #expect(refused.statusCode == 400)
        #expect(refused.reasonPhrase.contains("URI"))
        try await laptop.send(Self.service(laptop, user: "alice", callID: "laptop-svc", cseq: 4, operation: "setContact",
                                           arguments: "<m:URI>sip:dave@example.com</m:URI><m:groups>9</m:groups>"),
                              to: server.udpPort)
        #expect(await laptop.response()?.statusCode == 400)  // no group 9
        try await server.stop()
        let store = try SQLiteStore(directory: dir)
        let list = try await store.contactList(user: "alice@example.com")
        #expect(list.deltaNum == 6)
        #expect(list.contacts.map(\.uri) == ["carol@example.org"])
        #expect(list.groups.map(\.name) == ["Friends", "Office"])
        await laptop.close()
        await phone.close()
    }

    @Test func setACEReachesTheAccessListAndOtherPackagesAnswer() async throws {
        let server = try await RunningHomeServer.start(auth: false, users: [("alice", "a", true), ("carol", "c", true)])
        let ua = try await TestUA(group: testEventLoops)
        try await ua.send(Self.subscribe(ua, user: "alice", event: "vnd-microsoft-roaming-ACL", callID: "acl"), to: server.udpPort)
        let acl = try #require(await ua.response())
        #expect(acl.statusCode == 200)
        #expect(Self.body(acl).contains("<acl deltaNum="))

        try await ua.send(Self.service(ua, user: "alice", callID: "ace", cseq: 1, operation: "setACE",
                                       arguments: "<m:type>USER</m:type><m:mask>sip:carol@example.com</m:mask><m:rights>BD</m:rights><m:deltaNum>1</m:deltaNum>"),
                          to: server.udpPort)
        #expect(await ua.response()?.statusCode == 200)
        try await ua.send(Self.service(ua, user: "alice", callID: "ace", cseq: 2, operation: "setACE",
                                       arguments: "<m:type>USER</m:type><m:mask>sip:carol@example.com</m:mask><m:rights>ZZ</m:rights>"),
                          to: server.udpPort)
        #expect(await ua.response()?.statusCode == 400)
        #expect(server.server.server.presence.accessLists.decide(presentity: "alice@example.com",
                                                                 watcher: "carol@example.com") == .block)

        try await ua.send(Self.subscribe(ua, user: "alice", event: "vnd-microsoft-provisioning", callID: "prov"), to: server.udpPort)
        let provisioning = try #require(await ua.response())
        #expect(provisioning.statusCode == 200)
        #expect(provisioning.headers.first("Expires") == "0")
        try await ua.send(Self.subscribe(ua, user: "alice", event: "presence.wpending", callID: "wp"), to: server.udpPort)
        let pending = try #require(await ua.response())
        #expect(pending.statusCode == 200)
        #expect(Self.body(pending).contains("<watchers"))
        // Someone else's roaming data is private.
        try await ua.send(Self.subscribe(ua, user: "alice", event: "vnd-microsoft-roaming-contacts", callID: "spy")
            .replacingOccurrences(of: "SUBSCRIBE sip:alice@", with: "SUBSCRIBE sip:carol@"), to: server.udpPort)
        #expect(await ua.response()?.statusCode == 403)
        await ua.close()
        try await server.stop()
    }

    @Test func directorySearchStaysInTheDomainAndSkipsHiddenUsers() async throws {
        let dir = try RunningHomeServer.temporaryDirectory()
        try await RunningHomeServer.provision([("alice", "a", true), ("alan", "x", true), ("alfie", "x", true)],
                                              domain: "example.com", in: dir)
        try await RunningHomeServer.provision([("alma", "x", true)], domain: "other.org", in: dir)
        do {
            let store = try SQLiteStore(directory: dir)
            try await store.updateDirectory("alan@example.com", DirectoryUpdate(displayName: "Alan Turing", title: "Scientist",
                                                                               email: "alan@mail.example.com"))
            try await store.updateDirectory("alfie@example.com", DirectoryUpdate(displayName: "Alfie Hidden", searchable: false))
            try await store.updateDirectory("alma@other.org", DirectoryUpdate(displayName: "Alma Other"))
            try store.close()
        }
        let server = try await RunningHomeServer.start(dataDirectory: dir, auth: false)
        let ua = try await TestUA(group: testEventLoops)
        try await ua.send(Self.service(ua, user: "alice", target: "example.com", callID: "search", cseq: 1,
                                       operation: "directorySearch",
                                       arguments: ##"<m:filter m:href="#searchArray"/><m:maxResults>10</m:maxResults>"##,
                                       extraBody: #"<m:Array xmlns:m="http://schemas.microsoft.com/winrtc/2002/11/sip" m:id="searchArray"><m:row m:attrib="givenName" m:value="Al"/></m:Array>"#),
                          to: server.udpPort)
        let answer = try #require(await ua.response())
        #expect(answer.statusCode == 200)
        let text = Self.body(answer)
        #expect(text.contains(#"uri="sip:alan@example.com""#))
        #expect(text.contains(#"title="Scientist""#))
        #expect(text.contains("<m:moreAvailable>false</m:moreAvailable>"))
        #expect(!text.contains("alfie"))
        #expect(!text.contains("alma"))
        try await ua.send(Self.service(ua, user: "alice", target: "example.com", callID: "search", cseq: 2,
                                       operation: "directorySearch", arguments: "<m:maxResults>10</m:maxResults>"),
                          to: server.udpPort)
        #expect(await ua.response()?.statusCode == 400)  // no search row
        await ua.close()
        try await server.stop()
    }

    @Test func aChangeByAnotherProcessReachesTheDevices() async throws {
        let server = try await RunningHomeServer.start(auth: false, users: [("alice", "a", true)])
        let ua = try await TestUA(group: testEventLoops)
        try await ua.send(Self.subscribe(ua, user: "alice", event: "vnd-microsoft-roaming-contacts", callID: "other"),
                          to: server.udpPort)
        let first = try #require(await ua.response())
        #expect(Self.body(first).contains(#"<contactList deltaNum="0"/>"#))
        // What `sipctl contacts add alice@example.com bob@example.com --group Friends` writes.
        let store = try SQLiteStore(directory: server.dataDirectory)
        let group = try await store.apply(user: "alice@example.com", .addGroup(name: "Friends"))
        _ = try await store.apply(user: "alice@example.com",
                                  .setContact(RoamingContact(uri: "bob@example.com", groups: [group.addedGroupID!])))
        try store.close()
        // Within about a second (the refresher), one NOTIFY with the whole list.
        var notify = try #require(await ua.request())
        try await ua.answer(notify, 200, toTag: notify.to?.tag ?? "", to: server.udpPort)
        if !Self.body(notify).contains("bob@example.com") {
            notify = try #require(await ua.request())  // the group and the contact seen apart
            try await ua.answer(notify, 200, toTag: notify.to?.tag ?? "", to: server.udpPort)
        }
        #expect(Self.body(notify).contains(#"<contact uri="bob@example.com""#))
        #expect(notify.headers.first("Subscription-State")?.hasPrefix("active") == true)
        // Unsubscribing ends it.
        try await ua.send(Self.subscribe(ua, user: "alice", event: "vnd-microsoft-roaming-contacts", callID: "other",
                                         cseq: 2, toTag: first.to?.tag ?? nil, expires: 0), to: server.udpPort)
        #expect(await ua.response()?.statusCode == 200)
        #expect(server.server.server.roaming.subscriptionCount == 0)
        await ua.close()
        try await server.stop()
    }

    @Test func withAuthenticationServiceIsChallengedFirst() async throws {
        let server = try await RunningHomeServer.start(users: [("alice", "pw-a", true)])
        let ua = try await TestUA(group: testEventLoops)
        let addGroup = "<m:name>Work</m:name><m:externalURI /><m:deltaNum>0</m:deltaNum>"
        try await ua.send(Self.service(ua, user: "alice", callID: "auth-svc", cseq: 1, operation: "addGroup",
                                       arguments: addGroup), to: server.udpPort)
        let challenge = try #require(await ua.response())
        #expect(challenge.statusCode == 407)
        let header = try #require(TestDigest.challenge(in: challenge, header: "Proxy-Authenticate", algorithm: "MD5"))
        let credentials = TestDigest.authorization(challenge: header, user: "alice", password: "pw-a", method: "SERVICE",
                                                   uri: "sip:alice@example.com")
        try await ua.send(Self.service(ua, user: "alice", callID: "auth-svc", cseq: 2, operation: "addGroup",
                                       arguments: addGroup, authorization: credentials), to: server.udpPort)
        let ok = try #require(await ua.response())
        #expect(ok.statusCode == 200)
        #expect(Self.body(ok).contains("<m:groupID>1</m:groupID>"))

        // The self-subscription is challenged too; its refresh inside the dialog is not.
        try await ua.send(Self.subscribe(ua, user: "alice", event: "vnd-microsoft-roaming-contacts", callID: "auth-rc"),
                          to: server.udpPort)
        let subscribeChallenge = try #require(await ua.response())
        #expect(subscribeChallenge.statusCode == 407)
        let subscribeHeader = try #require(TestDigest.challenge(in: subscribeChallenge, header: "Proxy-Authenticate",
                                                                algorithm: "MD5"))
        let subscribeCredentials = TestDigest.authorization(challenge: subscribeHeader, user: "alice", password: "pw-a",
                                                            method: "SUBSCRIBE", uri: "sip:alice@example.com")
        try await ua.send(Self.subscribe(ua, user: "alice", event: "vnd-microsoft-roaming-contacts", callID: "auth-rc",
                                         cseq: 2, extra: "Proxy-Authorization: \(subscribeCredentials)\n"), to: server.udpPort)
        let subscribed = try #require(await ua.response())
        #expect(subscribed.statusCode == 200)
        #expect(Self.body(subscribed).contains(#"<group id="1" name="Work"/>"#))
        try await ua.send(Self.subscribe(ua, user: "alice", event: "vnd-microsoft-roaming-contacts", callID: "auth-rc",
                                         cseq: 3, toTag: subscribed.to?.tag ?? nil), to: server.udpPort)
        #expect(await ua.response()?.statusCode == 200)
        await ua.close()
        try await server.stop()
    }

    @Test func pendingWatchersArePushed() async throws {
        let server = try await RunningHomeServer.start(auth: false, users: [("alice", "a", true), ("carol", "c", true)])
        do {
            let store = try SQLiteStore(directory: server.dataDirectory)
            try await store.setAccessDefault(domain: "example.com", policy: .pending)
            try store.close()
        }
        try await Task.sleep(for: .milliseconds(1500))  // the access lists' refresher
        let alice = try await TestUA(group: testEventLoops)
        try await alice.send(Self.subscribe(alice, user: "alice", event: "presence.wpending", callID: "wp"), to: server.udpPort)
        let first = try #require(await alice.response())
        #expect(first.statusCode == 200)
        #expect(!Self.body(first).contains("carol"))
        // carol asks to watch alice: she waits for consent, and alice's device is told.
        let carol = try await TestUA(group: testEventLoops)
        try await carol.send(PresenceEndToEndTests.subscribe(carol, watcher: "carol", presentity: "alice", callID: "carol-w"),
                             to: server.udpPort)
        #expect(await carol.response()?.statusCode == 200)
        let notify = try #require(await alice.request())
        #expect(notify.headers.first("Event") == "presence.wpending")
        #expect(Self.body(notify).contains(#"<watcher uri="sip:carol@example.com""#))
        try await alice.answer(notify, 200, toTag: notify.to?.tag ?? "", to: server.udpPort)
        await alice.close()
        await carol.close()
        try await server.stop()
    }

    @Test func anAccessListChangeByAnotherProcessIsPushed() async throws {
        let server = try await RunningHomeServer.start(auth: false, users: [("alice", "a", true)])
        let ua = try await TestUA(group: testEventLoops)
        try await ua.send(Self.subscribe(ua, user: "alice", event: "vnd-microsoft-roaming-ACL", callID: "acl-other"),
                          to: server.udpPort)
        let first = try #require(await ua.response())
        #expect(first.statusCode == 200)
        #expect(!Self.body(first).contains("mallory"))
        // What `sipctl acl block alice@example.com mallory@example.org` writes.
        let store = try SQLiteStore(directory: server.dataDirectory)
        try await store.setAccess(user: "alice@example.com", watcher: "mallory@example.org", rule: .block)
        try store.close()
        let notify = try #require(await ua.request())
        #expect(notify.headers.first("Event") == "vnd-microsoft-roaming-ACL")
        #expect(Self.body(notify).contains(#"<ace type="USER" mask="sip:mallory@example.org" rights="BD"/>"#))
        try await ua.answer(notify, 200, toTag: notify.to?.tag ?? "", to: server.udpPort)
        await ua.close()
        try await server.stop()
    }
}
