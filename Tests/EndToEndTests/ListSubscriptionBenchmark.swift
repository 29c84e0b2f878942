import Foundation
import Store
import Testing

/// List SUBSCRIBEs per second for 50-member roaming lists, and the server's memory per list
/// subscription, over one TCP connection on loopback (in process). Opt-in, as it takes a
/// while to provision: `ROAMING_BENCH=1 swift test --filter ListSubscriptionBenchmark`.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["ROAMING_BENCH"] != nil))
struct ListSubscriptionBenchmark {
    static func residentBytes() -> Int {
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
              let pages = Int(statm.split(separator: " ")[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    @Test func fiftyMemberLists() async throws {
        let owners = 200, members = 50
        let dir = try RunningHomeServer.temporaryDirectory()
        do {
            let store = try SQLiteStore(directory: dir)
            let users = (0..<owners).map { TestUsers.record(user: "owner\($0)", domain: "example.com", password: "x") }
                + (0..<members).map { TestUsers.record(user: "member\($0)", domain: "example.com", password: "x") }
            try await store.importUsers(users)
            for o in 0..<owners {
                let group = try await store.apply(user: "owner\(o)@example.com", .addGroup(name: "All"))
                for m in 0..<members {
                    _ = try await store.apply(user: "owner\(o)@example.com",
                                              .setContact(RoamingContact(uri: "member\(m)@example.com", groups: [group.addedGroupID!])))
                }
            }
            try store.close()
        }
        let server = try await RunningHomeServer.start(dataDirectory: dir, auth: false)
        let peer = try await RawTCPPeer(port: server.tcpPort)
        let before = Self.residentBytes()
        let started = ContinuousClock.now
        for o in 0..<owners {
            try await peer.send("""
                SUBSCRIBE sip:owner\(o)+contacts@example.com SIP/2.0
                Via: SIP/2.0/TCP 127.0.0.1:\(peer.localPort);branch=z9hG4bK-bench-\(o)
                Max-Forwards: 70
                From: <sip:owner\(o)@example.com>;tag=b\(o)
                To: <sip:owner\(o)+contacts@example.com>
                Call-ID: bench-\(o)
                CSeq: 1 SUBSCRIBE
                Contact: <sip:owner\(o)@127.0.0.1:\(peer.localPort);transport=tcp>
                Event: presence
                Supported: eventlist
                Expires: 3600
                Content-Length: 0


                """)
        }
        // Counts the 200s and the NOTIFYs (their full state) as they arrive, scanning only what is new.
        var answered = 0, notified = 0, scanned = 0
        for _ in 0..<6000 {
            let bytes = Array(peer.text.utf8)
            var i = max(0, scanned - 16)
            while i + 16 <= bytes.count {
                if bytes[i] == UInt8(ascii: "S"), bytes[i..<i + 14].elementsEqual("SIP/2.0 200 OK".utf8) { answered += 1 }
                if bytes[i] == UInt8(ascii: "N"), bytes[i..<i + 11].elementsEqual("NOTIFY sip:".utf8) { notified += 1 }
                i += 1
            }
            scanned = i
            if answered >= owners && notified >= owners { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        #expect(answered == owners && notified == owners)
        #expect(server.server.server.roaming.subscriptionCount == owners)
        let grown = Self.residentBytes() - before - peer.text.utf8.count
        print("list SUBSCRIBE/s (\(members)-member lists, full-state NOTIFY each): \(Int(Double(owners) / seconds))")
        print("resident growth per list subscription (client buffer excluded): \(max(0, grown) / owners) bytes")
        await peer.close()
        try await server.stop()
    }
}
