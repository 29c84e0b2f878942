import SIPCore
import Synchronization
import Testing
@testable import SIPTransaction

/// The assembly over a fake transport: built-in answers, dispatch, graceful stop.
@Suite struct SIPServerTests {
    /// Runs `server` while `body` executes, then stops it as a graceful shutdown would.
    func withServer(_ server: SIPServer, _ transport: FakeTransport,
                    _ body: () async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            try await body()
            server.stop()
            try await group.waitForAll()
        }
    }

    /// Waits (bounded, polling the fake) until `count` responses went out
    /// (100 Trying, sent by the layer when the TU is slow on a loaded machine, is left out.)
    func responses(_ transport: FakeTransport, count: Int) async -> [SIPResponse] {
        func answers() -> [SIPResponse] { transport.sentResponses.filter { $0.statusCode != 100 } }
        for _ in 0..<2000 where answers().count < count {
            try? await Task.sleep(for: .milliseconds(5))
        }
        return answers()
    }

    @Test func optionsToTheServerGets200WithAllowAcceptSupported() async throws {
        let transport = FakeTransport()
        let server = SIPServer(transport: transport)
        try await withServer(server, transport) {
            transport.inject(.request(request("OPTIONS", uri: "sip:server.example")))
            let sent = await responses(transport, count: 1)
            let ok = try #require(sent.first)
            #expect(ok.statusCode == 200)
            #expect(ok.headers.first("Allow")?.contains("OPTIONS") == true)
            #expect(ok.headers.first("Accept") != nil)
            #expect(ok.headers.first("Supported") != nil)
            #expect(ok.to?.tag != nil)
        }
    }

    @Test func unhandledKnownMethodIs405AndUnknownIs501() async throws {
        let transport = FakeTransport()
        let server = SIPServer(transport: transport)
        try await withServer(server, transport) {
            transport.inject(.request(request("INVITE", branch: "z9hG4bKi1")))
            transport.inject(.request(request("FOOBAR", branch: "z9hG4bKf1")))
            let sent = await responses(transport, count: 2)
            let byMethod = Dictionary(sent.map { ((try? $0.cseq)?.method.rawValue ?? "", $0) }, uniquingKeysWith: { a, _ in a })
            #expect(byMethod["INVITE"]?.statusCode == 405)
            #expect(byMethod["INVITE"]?.headers.first("Allow")?.contains("INVITE") == false)
            #expect(byMethod["FOOBAR"]?.statusCode == 501)
        }
    }

    @Test func registeredHandlerSeesARetransmittedRequestOnce() async throws {
        let transport = FakeTransport()
        let seen = Mutex(0)
        let handler = SIPClosureHandler { tx in
            seen.withLock { $0 += 1 }
            try? tx.respond(202)
        }
        let server = SIPServer(transport: transport, handlers: [.message: handler])
        try await withServer(server, transport) {
            let message = request("MESSAGE", branch: "z9hG4bKm1")
            for _ in 0..<5 { transport.inject(.request(message)) }
            let sent = await responses(transport, count: 1)
            #expect(sent.first?.statusCode == 202)
            transport.inject(.request(request("OPTIONS", branch: "z9hG4bKo2")))
            // The handler answers on the spot, so the retransmissions after it get the 202
            // again (§17.2.2); the OPTIONS answer follows them.
            for _ in 0..<2000 where !transport.sentResponses.contains(where: { $0.statusCode == 200 }) {
                try? await Task.sleep(for: .milliseconds(5))
            }
            let all = await responses(transport, count: 2)
            #expect(all.contains { $0.statusCode == 200 })
            #expect(all.filter { $0.statusCode == 202 }.count >= 1)
            // allow stragglers, then check: retransmissions after the 202 got the 202 again
            #expect(seen.withLock { $0 } == 1)
            #expect(server.allowedMethods.contains(.message))
        }
    }

    @Test func gracefulStopLetsInFlightTransactionsFinish() async throws {
        let transport = FakeTransport()
        let release = AsyncStream<Void>.makeStream()
        let handler = SIPAsyncClosureHandler { tx in
            for await _ in release.stream { break }
            try? tx.respond(200)
        }
        let server = SIPServer(transport: transport, handlers: [.message: handler])
        try await withServer(server, transport) {
            transport.inject(.request(request("MESSAGE", branch: "z9hG4bKslow")))
            for _ in 0..<2000 where await server.layer.transactionCounts.server == 0 {
                try? await Task.sleep(for: .milliseconds(5))
            }
            // stop now (withServer stops listening after this body); the handler answers later
            Task {
                try? await Task.sleep(for: .milliseconds(50))
                release.continuation.yield()
            }
        }
        #expect(transport.sentResponses.map(\.statusCode) == [200])
    }

    @Test func cancelOfAnUnansweredInviteGets200AndTheInvite487() async throws {
        let transport = FakeTransport()
        let handler = SIPClosureHandler { _ in }  // a UAS that never answers by itself
        let server = SIPServer(transport: transport, handlers: [.invite: handler])
        try await withServer(server, transport) {
            transport.inject(.request(request("INVITE", branch: "z9hG4bKinv7")))
            for _ in 0..<2000 where await server.layer.transactionCounts.server == 0 {
                try? await Task.sleep(for: .milliseconds(5))
            }
            transport.inject(.request(request("CANCEL", branch: "z9hG4bKinv7")))
            let sent = await responses(transport, count: 2)
            let pairs = sent.map { ((try? $0.cseq)?.method, $0.statusCode) }
            #expect(pairs.contains { $0 == (.cancel, 200) })
            #expect(pairs.contains { $0 == (.invite, 487) })
        }
    }
}
