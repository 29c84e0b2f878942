import SIPCore
import Synchronization
import Testing
@testable import Roles
@testable import SIPTransaction

/// A transport that records what the server sends; tests inject what arrives.
final class RecordingTransport: SIPServerTransport {
    struct Sent: Sendable {
        var message: SIPMessage
        var destination: SIPDestination?
    }
    private let state = Mutex<[Sent]>([])
    private let inbound: AsyncStream<(SIPMessage, SIPMessageSource)>
    private let sink: AsyncStream<(SIPMessage, SIPMessageSource)>.Continuation
    let localHosts: Set<String> = ["192.0.2.10", "example.com"]

    init() { (inbound, sink) = AsyncStream.makeStream() }

    var sent: [Sent] { state.withLock { $0 } }

    func send(_ request: SIPRequest, to destination: SIPDestination, onFailure: @escaping @Sendable (SIPTransactionError) -> Void) {
        state.withLock { $0.append(Sent(message: .request(request), destination: destination)) }
    }
    func send(_ response: SIPResponse, replyingTo source: SIPMessageSource, onFailure: @escaping @Sendable (SIPTransactionError) -> Void) {
        state.withLock { $0.append(Sent(message: .response(response), destination: nil)) }
    }
    func sentBy(for destination: SIPDestination) -> SIPHostPort { SIPHostPort(host: "192.0.2.10", port: 5060) }
    func inject(_ message: SIPMessage, from source: SIPMessageSource) { sink.yield((message, source)) }
    func run(deliver: @escaping @Sendable (SIPMessage, SIPMessageSource) async -> Void) async throws {
        for await (message, source) in inbound { await deliver(message, source) }
    }
    func stopListening() async {}
    func shutdown() async { sink.finish() }

    /// Waits until a sent message satisfies `match` (generous timeout for a loaded machine).
    func waitFor(_ what: String, timeout: Duration = .seconds(20),
                 _ match: @escaping @Sendable (Sent) -> Bool) async -> Sent? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let hit = sent.first(where: match) { return hit }
            try? await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("nothing sent matching: \(what)")
        return nil
    }

    func requests(_ method: SIPMethod) -> [Sent] {
        sent.filter { if case .request(let r) = $0.message { r.method == method } else { false } }
    }

    func responses(_ status: Int) -> [SIPResponse] {
        sent.compactMap { if case .response(let r) = $0.message, r.statusCode == status { r } else { nil } }
    }
}

let alicePeer = SIPMessageSource(transport: .udp, remote: SIPHostPort(host: "198.51.100.1", port: 5060))
let bob1Peer = SIPMessageSource(transport: .udp, remote: SIPHostPort(host: "10.0.0.2", port: 5060))
let bob2Peer = SIPMessageSource(transport: .udp, remote: SIPHostPort(host: "10.0.0.3", port: 5060))

/// The proxy engine over a real transaction layer and a recording transport: forking,
/// best response, CANCEL (RFC 3261 §16.7, §16.10).
@Suite struct ProxyCoreTests {
    struct Harness {
        let transport = RecordingTransport()
        let server: SIPServer
        let task: Task<Void, any Error>

        init(bindings: [ForwardTarget], timerC: Duration = .seconds(181), maxInFlightPerHop: Int = 1_024,
             maxInFlightPerSource: Int = 4_096, maxInFlightPerSourceAtHop: Int = 256) {
            let policy = HomeServerPolicy(identity: identity, registrar: FakeRegistrar(),
                                          location: FakeLocation(table: ["bob@example.com": .targets(bindings)]),
                                          authenticator: nil)
            let proxy = ProxyCore(policy: policy, identity: identity,
                                  configuration: .init(timerC: timerC, maxInFlightPerHop: maxInFlightPerHop,
                                                       maxInFlightPerSource: maxInFlightPerSource,
                                                       maxInFlightPerSourceAtHop: maxInFlightPerSourceAtHop))
            server = SIPServer(transport: transport, configuration: .init(drainTimeout: .milliseconds(200)), catchAll: proxy)
            proxy.attach(server.layer)
            let server = self.server
            task = Task { try await server.run() }
        }

        func stop() async {
            server.stop()
            _ = try? await task.value
        }

        /// The request forwarded to `host`.
        func forwarded(_ method: SIPMethod, to host: String) async -> SIPRequest? {
            let sent = await transport.waitFor("\(method) to \(host)") {
                if case .request(let r) = $0.message { r.method == method && $0.destination?.address.host == host } else { false }
            }
            if case .request(let r)? = sent?.message { return r }
            return nil
        }

        func upstream(_ status: Int) async -> SIPResponse? {
            let sent = await transport.waitFor("\(status) upstream") {
                if case .response(let r) = $0.message { r.statusCode == status } else { false }
            }
            if case .response(let r)? = sent?.message { return r }
            return nil
        }
    }

    static let twoContacts = [ForwardTarget(uri: URI("sip:bob@10.0.0.2")!), ForwardTarget(uri: URI("sip:bob@10.0.0.3")!)]

    @Test func inviteForksAnd200CancelsTheOtherBranch() async throws {
        let h = Harness(bindings: Self.twoContacts)
        let inv = try invite()
        h.transport.inject(.request(inv), from: alicePeer)
        let to1 = try #require(await h.forwarded(.invite, to: "10.0.0.2"))
        let to2 = try #require(await h.forwarded(.invite, to: "10.0.0.3"))
        #expect(to1.headers["Record-Route"] == ["<sip:192.0.2.10:5060;lr;dlg=\(DialogRouteToken.make(for: inv, caller: alicePeer.remote, callee: SIPHostPort(host: "10.0.0.2", port: 5060)))>"])
        #expect(try to1.topVia?.branch != to2.topVia?.branch)

        h.transport.inject(.response(response(180, to: to1)), from: bob1Peer)
        #expect(await h.upstream(180) != nil)
        h.transport.inject(.response(response(200, to: to2)), from: bob2Peer)
        let ok = try #require(await h.upstream(200))
        #expect(try ok.vias.count == 1)
        let cancel = try #require(await h.forwarded(.cancel, to: "10.0.0.2"))
        #expect(try cancel.topVia?.branch == to1.topVia?.branch)
        #expect(h.transport.requests(.cancel).count == 1)  // nothing to cancel on the answered branch
        await h.stop()
    }

    @Test func cancelFromUpstreamCancelsBranchesAnd487Returns() async throws {
        let h = Harness(bindings: [Self.twoContacts[0]])
        let inv = try invite()
        h.transport.inject(.request(inv), from: alicePeer)
        let fwd = try #require(await h.forwarded(.invite, to: "10.0.0.2"))
        h.transport.inject(.response(response(180, to: fwd)), from: bob1Peer)
        #expect(await h.upstream(180) != nil)
        var cancel = inv
        cancel.method = .cancel
        cancel.headers.replace("CSeq", with: "1 CANCEL")
        cancel.body = []
        h.transport.inject(.request(cancel), from: alicePeer)
        let downstreamCancel = try #require(await h.forwarded(.cancel, to: "10.0.0.2"))
        #expect(try downstreamCancel.topVia?.branch == fwd.topVia?.branch)
        h.transport.inject(.response(response(487, to: fwd)), from: bob1Peer)
        let terminated = try #require(await h.upstream(487))
        #expect(terminated.callID == inv.callID)
        await h.stop()
    }

    /// A device that never answers holds at most `maxInFlightPerHop` relayed requests (each
    /// would hold a client transaction for 32 s): past it the relay fails at once, and an
    /// answer frees a slot.
    /// Arguments: a plain Contact, and one asking for TLS (only configured peers are exempt: a
    /// user's own `transport=tls` Contact must not lift the limit).
    @Test(arguments: ["sip:bob@10.0.0.2", "sip:bob@10.0.0.2;transport=tls"])
    func aHopThatNeverAnswersHoldsAtMostItsLimit(contact: String) async throws {
        let h = Harness(bindings: [ForwardTarget(uri: URI(contact)!)], maxInFlightPerHop: 2)
        func message(_ n: Int) throws -> SIPRequest {
            try request("""
            MESSAGE sip:bob@example.com SIP/2.0
            Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKmsg\(n)
            Max-Forwards: 70
            From: <sip:alice@example.com>;tag=a\(n)
            To: <sip:bob@example.com>
            Call-ID: msg-\(n)@198.51.100.1
            CSeq: 1 MESSAGE
            Content-Length: 0


            """)
        }
        for n in 1...2 { h.transport.inject(.request(try message(n)), from: alicePeer) }
        let first = try #require(await h.forwarded(.message, to: "10.0.0.2"))
        _ = await h.transport.waitFor("two MESSAGEs to 10.0.0.2") { _ in
            Set(h.transport.requests(.message).compactMap { if case .request(let r) = $0.message { r.callID } else { nil } }).count >= 2
        }
        h.transport.inject(.request(try message(3)), from: alicePeer)
        let refused = try #require(await h.transport.waitFor("an answer to the third") {
            if case .response(let r) = $0.message { r.callID == "msg-3@198.51.100.1" && r.statusCode >= 300 } else { false }
        })
        if case .response(let r) = refused.message { #expect(r.statusCode >= 500) }
        let relayed = Set(h.transport.requests(.message).compactMap { sent -> String? in
            if case .request(let r) = sent.message, sent.destination?.address.host == "10.0.0.2" { r.callID } else { nil }
        })
        #expect(relayed == ["msg-1@198.51.100.1", "msg-2@198.51.100.1"])  // retransmissions aside
        h.transport.inject(.response(response(200, to: first)), from: bob1Peer)  // one answered
        _ = await h.upstream(200)
        h.transport.inject(.request(try message(4)), from: alicePeer)
        _ = await h.transport.waitFor("the fourth relayed") { _ in
            h.transport.requests(.message).contains { if case .request(let r) = $0.message { r.callID == "msg-4@198.51.100.1" } else { false } }
        }
        await h.stop()
    }

    /// One sender reaching several devices that never answer (here bob's two Contacts, each
    /// under its own hop limit) holds at most `maxInFlightPerSource` relays in all: past it its
    /// relays fail at once, while another sender's still go out; an answer frees a slot.
    @Test func aSourceHoldsAtMostItsLimitOfRelays() async throws {
        let h = Harness(bindings: Self.twoContacts, maxInFlightPerHop: 100, maxInFlightPerSource: 3)
        func message(_ n: Int, from host: String) throws -> SIPRequest {
            try request("""
            MESSAGE sip:bob@example.com SIP/2.0
            Via: SIP/2.0/UDP \(host):5060;branch=z9hG4bKsrc\(n)
            Max-Forwards: 70
            From: <sip:alice@example.com>;tag=s\(n)
            To: <sip:bob@example.com>
            Call-ID: src-\(n)@\(host)
            CSeq: 1 MESSAGE
            Content-Length: 0


            """)
        }
        @Sendable func relayed(_ callID: String) -> Int {
            Set(h.transport.requests(.message).compactMap { sent -> String? in
                guard case .request(let r) = sent.message, r.callID == callID, let to = sent.destination?.address.host else { return nil }
                return to
            }).count
        }
        // The first MESSAGE forks to both Contacts (two slots), the second gets one branch out.
        h.transport.inject(.request(try message(1, from: "198.51.100.1")), from: alicePeer)
        let first = try #require(await h.forwarded(.message, to: "10.0.0.3"))
        _ = await h.transport.waitFor("both branches of the first") { _ in relayed("src-1@198.51.100.1") == 2 }
        h.transport.inject(.request(try message(2, from: "198.51.100.1")), from: alicePeer)
        _ = await h.transport.waitFor("one branch of the second") { _ in relayed("src-2@198.51.100.1") == 1 }
        // Full: the third fails at once, with nothing relayed.
        h.transport.inject(.request(try message(3, from: "198.51.100.1")), from: alicePeer)
        let refused = try #require(await h.transport.waitFor("an answer to the third") {
            if case .response(let r) = $0.message { r.callID == "src-3@198.51.100.1" && r.statusCode >= 300 } else { false }
        })
        // The branch fails with 503, which goes upstream as 500 (§16.7 step 6), as for a hop.
        if case .response(let r) = refused.message { #expect(r.statusCode >= 500) }
        #expect(relayed("src-3@198.51.100.1") == 0)
        #expect(relayed("src-2@198.51.100.1") == 1)
        // Another sender is not held back by this one.
        let carolPeer = SIPMessageSource(transport: .udp, remote: SIPHostPort(host: "198.51.100.7", port: 5060))
        h.transport.inject(.request(try message(4, from: "198.51.100.7")), from: carolPeer)
        _ = await h.transport.waitFor("the other sender's relayed") { _ in relayed("src-4@198.51.100.7") == 2 }
        // An answer gives a slot back.
        h.transport.inject(.response(response(200, to: first)), from: bob2Peer)
        _ = await h.upstream(200)
        h.transport.inject(.request(try message(5, from: "198.51.100.1")), from: alicePeer)
        _ = await h.transport.waitFor("the fifth relayed") { _ in relayed("src-5@198.51.100.1") >= 1 }
        #expect(relayed("src-5@198.51.100.1") >= 1)
        await h.stop()
    }

    /// One source holds at most its share of a hop: a stranger flooding bob's device leaves
    /// room for another sender's request to bob.
    @Test func aSourceHoldsAtMostItsShareOfAHop() async throws {
        let h = Harness(bindings: [ForwardTarget(uri: URI("sip:bob@10.0.0.2")!)], maxInFlightPerHop: 10,
                        maxInFlightPerSourceAtHop: 2)
        func message(_ n: Int, from host: String) throws -> SIPRequest {
            try request("""
            MESSAGE sip:bob@example.com SIP/2.0
            Via: SIP/2.0/UDP \(host):5060;branch=z9hG4bKshare\(n)
            Max-Forwards: 70
            From: <sip:m\(n)@evil.example>;tag=s\(n)
            To: <sip:bob@example.com>
            Call-ID: share-\(n)@\(host)
            CSeq: 1 MESSAGE
            Content-Length: 0


            """)
        }
        @Sendable func relayed(_ callID: String) -> Bool {
            h.transport.requests(.message).contains { sent in
                if case .request(let r) = sent.message { r.callID == callID } else { false }
            }
        }
        let stranger = SIPMessageSource(transport: .udp, remote: SIPHostPort(host: "203.0.113.9", port: 5060))
        for n in 1...2 {
            h.transport.inject(.request(try message(n, from: "203.0.113.9")), from: stranger)
            _ = await h.transport.waitFor("relay \(n)") { _ in relayed("share-\(n)@203.0.113.9") }
        }
        h.transport.inject(.request(try message(3, from: "203.0.113.9")), from: stranger)
        _ = try #require(await h.transport.waitFor("an answer to the third") {
            if case .response(let r) = $0.message { r.callID == "share-3@203.0.113.9" && r.statusCode >= 500 } else { false }
        })
        #expect(!relayed("share-3@203.0.113.9"))
        let other = SIPMessageSource(transport: .udp, remote: SIPHostPort(host: "198.51.100.7", port: 5060))
        h.transport.inject(.request(try message(4, from: "198.51.100.7")), from: other)
        _ = await h.transport.waitFor("the other sender's relayed") { _ in relayed("share-4@198.51.100.7") }
        #expect(relayed("share-4@198.51.100.7"))
        await h.stop()
    }

    @Test func bestResponseAfterAllBranchesFail() async throws {
        let h = Harness(bindings: Self.twoContacts)
        let inv = try invite()
        h.transport.inject(.request(inv), from: alicePeer)
        let to1 = try #require(await h.forwarded(.invite, to: "10.0.0.2"))
        let to2 = try #require(await h.forwarded(.invite, to: "10.0.0.3"))
        h.transport.inject(.response(response(486, to: to1)), from: bob1Peer)
        h.transport.inject(.response(response(503, to: to2)), from: bob2Peer)
        #expect(await h.upstream(486) != nil)
        #expect(h.transport.responses(500).isEmpty && h.transport.responses(503).isEmpty)
        await h.stop()
    }

    /// Timer C (§16.8) fires on a branch that rang but never answered: the proxy cancels it,
    /// and the branch's 487 goes upstream.
    @Test func timerCCancelsARingingBranch() async throws {
        let h = Harness(bindings: [Self.twoContacts[0]], timerC: .milliseconds(300))
        h.transport.inject(.request(try invite()), from: alicePeer)
        let fwd = try #require(await h.forwarded(.invite, to: "10.0.0.2"))
        h.transport.inject(.response(response(180, to: fwd)), from: bob1Peer)
        #expect(await h.upstream(180) != nil)
        let cancel = try #require(await h.forwarded(.cancel, to: "10.0.0.2"))
        #expect(try cancel.topVia?.branch == fwd.topVia?.branch)
        h.transport.inject(.response(response(487, to: fwd)), from: bob1Peer)
        #expect(await h.upstream(487) != nil)
        await h.stop()
    }
}
