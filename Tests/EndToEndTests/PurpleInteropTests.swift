import Foundation
import Store
import SIPTestSupport
import Testing

/// Pidgin's SIMPLE protocol (Debian's libpurple0, unmodified), driven headless by
/// `scripts/purple-simple-client.c`, built here against `libpurple-dev`: it signs in over TCP
/// with digest (RFC 2069, no qop), reads its roaming contacts from the 200 to its
/// `vnd-microsoft-roaming-contacts` SUBSCRIBE, subscribes to the buddy's presence (libpurple
/// does so about ten seconds after signing in), sees it come online, and exchanges instant
/// messages with it (bob here is a plain SIP UA over UDP).
@Suite(.serialized) struct PurpleInteropTests {
    static let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/purple-simple-client.c")

    /// Compiles the client into `directory`; nil (with the compiler's output) when libpurple-dev,
    /// pkg-config or cc is missing.
    static func build(in directory: URL) throws -> (String?, String) {
        let binary = directory.appendingPathComponent("purple-simple-client").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "cc -o '\(binary)' '\(source.path)' $(pkg-config --cflags --libs purple) 2>&1"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus == 0 ? binary : nil, output)
    }

    @Test func pidginShowsItsRoamingContactsAndTheirPresence() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("purple-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work.appendingPathComponent("home"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let (built, compilerOutput) = try await offThePool { [work] in try Self.build(in: work) }
        let binary = try #require(built, "cannot build the libpurple client (apt-get install libpurple-dev gcc pkg-config; scripts/test does):\n\(compilerOutput)")

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
        let outputFile = work.appendingPathComponent("output.log")
        _ = FileManager.default.createFile(atPath: outputFile.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [work.appendingPathComponent("home").path, "alice@example.com", "alice-pw", "127.0.0.1",
                             "\(server.tcpPort)", "120", "sip:bob@example.com"]  // killed at the end; 120 s for a loaded CI
        process.standardOutput = try FileHandle(forWritingTo: outputFile)
        process.standardError = FileHandle.nullDevice
        try process.run()
        // SIGKILL: the child inherits the test runner's blocked signals, SIGTERM among them.
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        var output: String { (try? String(contentsOf: outputFile, encoding: .utf8)) ?? "" }

        let listed = await PresenceInteropTests.eventually(.seconds(15)) { output.contains("BUDDY sip:bob@example.com Friends") }
        #expect(listed, "Pidgin did not show its roaming contact:\n\(output)")
        #expect(output.contains("SIGNED-ON"))

        let (bob, registered) = try await RegisteredUA.register("bob", password: "bob-pw", on: server, group: testEventLoops)
        #expect(registered?.statusCode == 200)
        let online = await PresenceInteropTests.eventually(.seconds(25)) { output.contains("STATUS sip:bob@example.com online") }
        #expect(online, "Pidgin did not see bob online:\n\(output)")
        // Pidgin says hello once bob is online; bob answers and writes back (digest on: 407 first).
        var message = try #require(await bob.request())
        while message.method != .message { message = try #require(await bob.request()) }
        #expect(String(decoding: message.body, as: UTF8.self) == "hello from pidgin")
        try await bob.answer(message, 200, toTag: "bob-im", to: server.udpPort)
        // libpurple handles one SIP message per TCP read (README, "Pidgin, headless"): had the
        // relayed 200 and bob's MESSAGE reached Pidgin in one read, as they did on a loaded
        // machine, the MESSAGE would wait for the next read forever. A person replies later.
        try await Task.sleep(for: .seconds(1))
        // Over UDP bob retransmits as any UDP client does (Timer E): a loaded machine may drop
        // a datagram on loopback.
        let challenge = try #require(try await bob.exchange(
            SIPText.message(from: "bob", to: "alice", domain: "example.com", uaPort: bob.port, cseq: 1,
                            callID: "bob-im", body: "hi pidgin"), to: server.udpPort))
        #expect(challenge.statusCode == 407)
        let header = try #require(TestDigest.challenge(in: challenge, header: "Proxy-Authenticate", algorithm: "MD5"))
        let credentials = TestDigest.authorization(challenge: header, user: "bob", password: "bob-pw", method: "MESSAGE",
                                                   uri: "sip:alice@example.com")
        let relayed = try await bob.exchange(
            SIPText.message(from: "bob", to: "alice", domain: "example.com", uaPort: bob.port, cseq: 2,
                            callID: "bob-im", body: "hi pidgin", proxyAuthorization: credentials), to: server.udpPort)
        #expect(relayed?.statusCode == 200, "bob's MESSAGE to Pidgin: \(relayed.map { "\($0.statusCode)" } ?? "no answer")")
        let received = await PresenceInteropTests.eventually(.seconds(10)) { output.contains("IM sip:bob@example.com hi pidgin") }
        #expect(received, "Pidgin did not show bob's message:\n\(output)")
        #expect(!output.contains("DISCONNECTED"))
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        await bob.close()
        try await server.stop()
    }
}
