import Foundation
import SIPCore
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A registrar acknowledges a REGISTER only once the binding is durable (issue 7: "kill -9
/// loses none"): REGISTERs flood a real `home-server` process, which is killed with SIGKILL
/// mid-flood and restarted on the same data; afterwards every user whose 200 reached the
/// client is still reachable at the contact it registered.
@Suite(.serialized) struct RegistrationCrashTests {
    static func startServer(data: String) async throws -> (Process, Int) {
        let run = try HomeServerCommandTests.launch([
            "--data", data, "--listen", "udp:127.0.0.1:0", "--domain", "example.com", "--auth", "off",
            "--server-name", "h1.example", "--log-level", "critical"])
        let line = try #require(await HomeServerCommandTests.lines(run.stdout, count: 1).first,
                                "home-server printed no listening line")
        let port = try #require(line.split(separator: ":").last.flatMap { Int($0) })
        return (run.process, port)
    }

    @Test func everyAcknowledgedRegistrationSurvivesSIGKILL() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: HomeServerCommandTests.executable.path), "build home-server first")
        let total = 800, killAt = 400
        let data = try RunningHomeServer.temporaryDirectory()
        try await RunningHomeServer.provision((1...total).map { ("u\($0)", "pw", true) } + [("prober", "pw", true)],
                                              domain: "example.com", in: data)
        var (server, port) = try await Self.startServer(data: data)

        // The devices: one socket registers every user and answers whatever reaches them.
        let devices = try await TestUA(group: testEventLoops)
        let acknowledged = Mutex<Set<String>>([])
        let reached = Mutex<Set<String>>([])
        let deviceTask = Task {
            while !Task.isCancelled {
                guard let message = await devices.mailbox.next() else { continue }
                switch message {
                case .response(let response):
                    if response.statusCode == 200, let user = response.to?.uri.sipURI?.user {
                        _ = acknowledged.withLock { $0.insert(user) }
                    }
                case .request(let request):
                    if let user = request.uri.sipURI?.user { _ = reached.withLock { $0.insert(user) } }
                    if let via = try? request.topVia { try? await devices.answer(request, 200, to: via.port ?? 5060) }
                }
            }
        }

        for i in 1...total {
            if i == killAt {
                kill(server.processIdentifier, SIGKILL)
                #expect(await HomeServerCommandTests.wait(server, timeout: .seconds(10)))
                #expect(server.terminationReason == .uncaughtSignal)
                (server, port) = try await Self.startServer(data: data)
            }
            try await devices.send(SIPText.register(user: "u\(i)", domain: "example.com", uaPort: devices.port, cseq: 1,
                                                    callID: "reg-u\(i)"), to: port)
            if i % 20 == 0 { try await Task.sleep(for: .milliseconds(15)) }
        }
        try await settle { acknowledged.withLock { $0.count } }
        let acked = acknowledged.withLock { $0 }
        let ackedBeforeKill = acked.filter { Int($0.dropFirst()) ?? 0 < killAt }

        // After the kill: a MESSAGE to every acknowledged user reaches its device.
        let prober = try await TestUA(group: testEventLoops)
        let answers = Mutex<[String: Int]>([:])
        let proberTask = Task {
            while !Task.isCancelled {
                guard let response = await prober.response(), let user = response.to?.uri.sipURI?.user else { continue }
                _ = answers.withLock { $0[user] = response.statusCode }
            }
        }
        // UDP without retransmission on this side: a probe left unanswered is sent again (a
        // new transaction), as a real client's Timer A would; 480 is an answer.
        for pass in 1...4 {
            let unanswered = acked.subtracting(answers.withLock { Set($0.keys) }).sorted()
            if unanswered.isEmpty { break }
            for (n, user) in unanswered.enumerated() {
                try await prober.send(SIPText.message(from: "prober", to: user, domain: "example.com", uaPort: prober.port,
                                                      cseq: pass, callID: "probe-\(user)-\(pass)", body: "are you there"),
                                      to: port)
                if n % 20 == 0 { try await Task.sleep(for: .milliseconds(15)) }
            }
            try await settle { answers.withLock { $0.count } }
        }
        server.terminate()
        #expect(await HomeServerCommandTests.wait(server))
        deviceTask.cancel()
        proberTask.cancel()

        let answered = answers.withLock { $0 }
        print("registration crash test: \(total) sent, \(acked.count) acknowledged (\(ackedBeforeKill.count) before the kill)")
        #expect(ackedBeforeKill.count > killAt / 2, "too few REGISTERs went through before the kill (\(ackedBeforeKill.count))")
        let lost = acked.filter { answered[$0] != 200 }
        let statuses = Dictionary(grouping: lost, by: { answered[$0] ?? 0 }).mapValues(\.count)
        #expect(lost.isEmpty, "\(lost.count) acknowledged, then unreachable after SIGKILL (status: count, 0 for no answer): \(statuses); e.g. \(lost.sorted().prefix(10))")
        #expect(acked.isSubset(of: reached.withLock { $0 }))
        await prober.close()
        await devices.close()
    }

    /// Waits until `count` stops growing for a second.
    func settle(_ count: @escaping @Sendable () -> Int) async throws {
        var previous = -1
        while previous != count() {
            previous = count()
            try await Task.sleep(for: .seconds(1))
        }
    }
}
