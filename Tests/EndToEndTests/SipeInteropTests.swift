import Foundation
import Store
import SIPTestSupport
import Testing

/// pidgin-sipe 1.25 (Debian's `pidgin-sipe`, protocol `prpl-sipe`, unmodified), driven
/// headless by `scripts/purple-sipe-client.c`, signs in to the home server over TCP with
/// digest (its REGISTER challenged with 407, its `uri="(null)"` answer accepted:
/// ``LCSClientQuirks``), then, as a user would in Pidgin, adds a buddy in a new group
/// (sipe: `addGroup`), renames it (sipe: `setContact`), blocks someone (sipe: `setACE`) and
/// goes away (sipe: `setPresence`, twice: sipe's first status change after signing in is sent
/// as available whatever was picked). The store then holds the change, and Pidgin's SIMPLE
/// account of the same user (`scripts/purple-simple-client.c`) shows the buddy.
///
/// sipe learns the new group's id from the addGroup answer, so its setContact files the
/// buddy under it, and a second sipe session with an empty local list shows the roaming list
/// it reads from the server (`BUDDY sip:bob@example.com Pals`). Both need the driver's
/// libxml2 fix: Debian 12's libxml2 calls none of the SAX1 element callbacks sipe's XML
/// parser relies on (see `scripts/purple-sipe-client.c` and README.md).
@Suite(.serialized) struct SipeInteropTests {
    static let scripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts")

    /// Compiles `scripts/NAME.c` into `directory`; nil (with the compiler's output) when
    /// libpurple-dev, pkg-config or cc is missing.
    static func build(_ name: String, in directory: URL, flags: String = "") throws -> (String?, String) {
        let binary = directory.appendingPathComponent(name).path
        let source = scripts.appendingPathComponent("\(name).c").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "cc -o '\(binary)' '\(source)' $(pkg-config --cflags --libs purple) \(flags) 2>&1"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus == 0 ? binary : nil, output)
    }

    /// Starts a client writing its lines to `log` (stderr too: a missing prpl-sipe says so).
    static func run(_ binary: String, _ arguments: [String], log: URL) throws -> Process {
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return process
    }

    @Test func sipeSignsInWithDigestAndItsChangesReachPidginSimple() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("sipe-\(UUID().uuidString)")
        for home in ["sipe-home", "sipe-home-2", "simple-home"] {
            try FileManager.default.createDirectory(at: work.appendingPathComponent(home), withIntermediateDirectories: true)
        }
        defer { try? FileManager.default.removeItem(at: work) }
        let (sipeBuilt, sipeOutput) = try await offThePool { [work] in
            try Self.build("purple-sipe-client", in: work,
                           flags: "$(pkg-config --cflags libxml-2.0) -Wl,--export-dynamic-symbol=xmlSAXUserParseMemory")
        }
        let sipeBinary = try #require(sipeBuilt, "cannot build the sipe client (apt-get install libpurple-dev libxml2-dev gcc pkg-config; scripts/test does):\n\(sipeOutput)")
        let (simpleBuilt, simpleOutput) = try await offThePool { [work] in try Self.build("purple-simple-client", in: work) }
        let simpleBinary = try #require(simpleBuilt, "cannot build the SIMPLE client:\n\(simpleOutput)")

        let dir = try RunningHomeServer.temporaryDirectory()
        try await RunningHomeServer.provision([("alice", "alice-pw", true), ("bob", "bob-pw", true), ("carol", "carol-pw", true)],
                                              domain: "example.com", in: dir)
        let server = try await RunningHomeServer.start(dataDirectory: dir, auth: true)

        let sipeLog = work.appendingPathComponent("sipe.log")
        // sipe's account name is "sign-in address,login": its digest username is the login.
        let sipe = try Self.run(sipeBinary, [work.appendingPathComponent("sipe-home").path, "alice@example.com,alice", "alice-pw",
                                             "127.0.0.1", "\(server.tcpPort)", "40", "status:be-right-back",
                                             "add:sip:bob@example.com:Pals", "alias:sip:bob@example.com:Bobby",
                                             "deny:sip:carol@example.com", "status:away"], log: sipeLog)
        // SIGKILL: the child inherits the test runner's blocked signals, SIGTERM among them.
        defer { if sipe.isRunning { kill(sipe.processIdentifier, SIGKILL) } }
        var sipeOut: String { (try? String(contentsOf: sipeLog, encoding: .utf8)) ?? "" }

        let signedOn = await PresenceInteropTests.eventually(.seconds(15)) { sipeOut.contains("SIGNED-ON") }
        #expect(signedOn, "pidgin-sipe did not sign in with digest:\n\(sipeOut)")
        let stepsDone = await PresenceInteropTests.eventually(.seconds(20)) { sipeOut.contains("STEP status:away") }
        #expect(stepsDone, "pidgin-sipe did not run its steps:\n\(sipeOut)")
        // sipe sends a status change a second later, and (seen on the wire) its first change
        // after signing in with activity 400 (available) whatever was picked: hence two.
        try await Task.sleep(for: .seconds(3))
        #expect(!sipeOut.contains("DISCONNECTED"), "\(sipeOut)")
        #expect(!sipeOut.contains("prpl-sipe is not installed"), "apt-get install pidgin-sipe (scripts/test does)")

        // Pidgin's SIMPLE account of the same user, on another "device", shows the buddy sipe
        // added, under the list's first group: libpurple's SIMPLE files every contact there.
        // That is "~", sipe's "Other Contacts", which sipe added on reading its empty list.
        let simpleLog = work.appendingPathComponent("simple.log")
        let simple = try Self.run(simpleBinary, [work.appendingPathComponent("simple-home").path, "alice@example.com", "alice-pw",
                                                 "127.0.0.1", "\(server.tcpPort)", "25"], log: simpleLog)
        defer { if simple.isRunning { kill(simple.processIdentifier, SIGKILL) } }
        var simpleOut: String { (try? String(contentsOf: simpleLog, encoding: .utf8)) ?? "" }
        let listed = await PresenceInteropTests.eventually(.seconds(15)) { simpleOut.contains("BUDDY sip:bob@example.com ~") }
        #expect(listed, "Pidgin SIMPLE did not show the buddy sipe added:\n\(simpleOut)")
        kill(simple.processIdentifier, SIGKILL)
        kill(sipe.processIdentifier, SIGKILL)
        simple.waitUntilExit()
        sipe.waitUntilExit()

        // sipe again, with an empty local list: it shows the roaming list it reads from the server.
        let sipe2Log = work.appendingPathComponent("sipe2.log")
        let sipe2 = try Self.run(sipeBinary, [work.appendingPathComponent("sipe-home-2").path, "alice@example.com,alice", "alice-pw",
                                              "127.0.0.1", "\(server.tcpPort)", "25"], log: sipe2Log)
        defer { if sipe2.isRunning { kill(sipe2.processIdentifier, SIGKILL) } }
        var sipe2Out: String { (try? String(contentsOf: sipe2Log, encoding: .utf8)) ?? "" }
        let roamed = await PresenceInteropTests.eventually(.seconds(15)) { sipe2Out.contains("BUDDY sip:bob@example.com Pals") }
        #expect(roamed, "pidgin-sipe did not show the roaming list:\n\(sipe2Out)")
        kill(sipe2.processIdentifier, SIGKILL)
        sipe2.waitUntilExit()
        try await server.stop()

        // What sipe's SERVICE requests left in the store.
        let store = try SQLiteStore(directory: dir)
        let list = try await store.contactList(user: "alice@example.com")
        #expect(list.groups.map(\.name) == ["~", "Pals"])
        #expect(list.contacts.map(\.uri) == ["bob@example.com"])
        #expect(list.contacts.first?.name == "Bobby")
        // sipe read the id in the addGroup answer and filed bob under it in its setContact.
        #expect(list.contacts.first?.groups == list.group(named: "Pals").map { [$0.id] })
        let access = try await store.accessEntries(user: "alice@example.com")
        #expect(access.contains(AccessEntry(user: "alice@example.com", watcher: "carol@example.com", rule: .block)))
        // setPresence went in as alice's published state: away.
        let published = try await store.loadPublications(now: 0).filter { $0.presentity == "alice@example.com" }
        #expect(published.contains { String(decoding: $0.body, as: UTF8.self).contains("away") },
                "setPresence left no away state: \(published.map { String(decoding: $0.body, as: UTF8.self) })")
        try store.close()
    }
}
