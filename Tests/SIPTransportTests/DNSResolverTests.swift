import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing
@testable import SIPTransport

/// A scripted nameserver on 127.0.0.1: `script` turns each query into the datagrams to send
/// back (none: stay silent). Counts the queries it saw.
final class FakeNameserver: Sendable {
    typealias Script = @Sendable (DNSMessage) -> [[UInt8]]
    let channel: any Channel
    private let seen = NIOLockedValueBox<[DNSQuestion]>([])

    var address: SocketAddress { channel.localAddress! }
    var questions: [DNSQuestion] { seen.withLockedValue { $0 } }

    init(script: @escaping Script) async throws {
        let seen = self.seen
        channel = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Handler(script: script, seen: seen))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    func close() async { try? await channel.close() }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        typealias OutboundOut = AddressedEnvelope<ByteBuffer>
        let script: Script
        let seen: NIOLockedValueBox<[DNSQuestion]>
        init(script: @escaping Script, seen: NIOLockedValueBox<[DNSQuestion]>) {
            self.script = script
            self.seen = seen
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let envelope = unwrapInboundIn(data)
            guard let query = try? DNSWire.parse(Array(envelope.data.readableBytesView)) else { return }
            seen.withLockedValue { $0 += query.questions }
            for reply in script(query) {
                context.write(wrapOutboundOut(AddressedEnvelope(remoteAddress: envelope.remoteAddress,
                                                                data: context.channel.allocator.buffer(bytes: reply))),
                              promise: nil)
            }
            context.flush()
        }
    }

    /// A response to `query` with one A record for its question, or the given overrides.
    static func answer(_ query: DNSMessage, ip: [UInt8], id: UInt16? = nil, name: String? = nil, flags: UInt16 = 0x8180,
                       ancount: UInt16 = 1) -> [UInt8] {
        var p = PacketBuilder()
        let question = query.questions.first ?? DNSQuestion(name: "x", type: .a)
        p.header(id: id ?? query.id, flags: flags, an: ancount)
        p.question(name ?? question.name, question.type)
        if ancount > 0 { p.record("", pointer: 12, .a, ttl: 60) { r in r.bytes += ip } }
        return p.bytes
    }
}

@Suite("DNS resolver over UDP: matching, retries, bounds")
struct DNSResolverTests {
    static let loop = MultiThreadedEventLoopGroup.singleton.next()

    func resolver(_ servers: [SocketAddress], timeout: TimeAmount = .milliseconds(500), attempts: Int = 1,
                  maxInFlight: Int = 1_024) -> DNSResolver {
        DNSResolver(configuration: DNSResolverConfiguration(nameservers: servers, timeout: timeout, attempts: attempts,
                                                            maxQueriesInFlight: maxInFlight),
                    eventLoop: Self.loop)
    }

    @Test("spoofed, mismatched and garbage datagrams are ignored; the matching answer wins")
    func matching() async throws {
        let server = try await FakeNameserver { query in
            [
                FakeNameserver.answer(query, ip: [6, 6, 6, 6], id: query.id &+ 1),  // another id
                FakeNameserver.answer(query, ip: [6, 6, 6, 7], name: "evil.example"),  // another question
                FakeNameserver.answer(query, ip: [6, 6, 6, 8], flags: 0x0100),  // not a response
                [0xFF, 0x00, 0x12],  // garbage
                FakeNameserver.answer(query, ip: [192, 0, 2, 44]),
            ]
        }
        let resolver = resolver([server.address])
        let answer = try await resolver.query("host.example", type: .a)
        #expect(answer.records.compactMap { $0.socketAddress(port: 0)?.ipAddress } == ["192.0.2.44"])
        try await resolver.shutdown()
        await server.close()
    }

    @Test("SERVFAIL moves to the next nameserver; when all fail, dnsFailure")
    func servfail() async throws {
        let failing = try await FakeNameserver { [FakeNameserver.answer($0, ip: [], flags: 0x8182, ancount: 0)] }
        let good = try await FakeNameserver { [FakeNameserver.answer($0, ip: [192, 0, 2, 45])] }
        let both = resolver([failing.address, good.address])
        #expect(try await both.query("host.example", type: .a).records.count == 1)
        let onlyFailing = resolver([failing.address], attempts: 2)
        let error = await #expect(throws: SIPTransportError.self) { try await onlyFailing.query("host.example", type: .a) }
        #expect(error?.code == .dnsFailure)
        #expect(failing.questions.count == 3)
        try await both.shutdown()
        try await onlyFailing.shutdown()
        await failing.close()
        await good.close()
    }

    @Test("identical questions in flight share one query; the answer is then cached")
    func sharedQuery() async throws {
        let server = try await FakeNameserver { [FakeNameserver.answer($0, ip: [192, 0, 2, 46])] }
        let resolver = resolver([server.address])
        let futures = (0..<20).map { _ in resolver.query("same.example", type: .a, on: Self.loop) }
        let answers = try await EventLoopFuture.whenAllSucceed(futures, on: Self.loop).get()
        _ = try await resolver.query("SAME.example", type: .a)
        #expect(answers.count == 20 && server.questions.count == 1)
        #expect(resolver.cache.count == 1)
        try await resolver.shutdown()
        await server.close()
    }

    @Test("over the in-flight cap: dnsOverloaded at once; shutdown fails what is pending")
    func bounds() async throws {
        let silent = try await FakeNameserver { _ in [] }
        let resolver = resolver([silent.address], timeout: .seconds(30), maxInFlight: 2)
        let a = resolver.query("a.example", type: .a, on: Self.loop)
        let b = resolver.query("b.example", type: .a, on: Self.loop)
        let overloaded = await #expect(throws: SIPTransportError.self) { try await resolver.query("c.example", type: .a) }
        #expect(overloaded?.code == .dnsOverloaded)
        try await resolver.shutdown()
        for pending in [a, b] {
            let error = await #expect(throws: SIPTransportError.self) { try await pending.get() }
            #expect(error?.code == .dnsFailure)
        }
        await silent.close()
    }

    @Test("a name that cannot be asked fails without a query")
    func badName() async throws {
        let server = try await FakeNameserver { [FakeNameserver.answer($0, ip: [192, 0, 2, 47])] }
        let resolver = resolver([server.address])
        let error = await #expect(throws: SIPTransportError.self) {
            try await resolver.query(String(repeating: "x", count: 70) + ".example", type: .a)
        }
        #expect(error?.code == .dnsMalformed && server.questions.isEmpty)
        try await resolver.shutdown()
        await server.close()
    }
}
