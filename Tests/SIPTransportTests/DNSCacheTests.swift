import NIOConcurrencyHelpers
import NIOCore
import Testing
@testable import SIPTransport

@Suite("DNS cache, resolv.conf and SRV ordering (RFC 2782)")
struct DNSCacheTests {
    final class Clock: Sendable {
        let now = NIOLockedValueBox(NIODeadline.uptimeNanoseconds(1_000_000_000))
        func advance(_ seconds: Int64) { now.withLockedValue { $0 = $0 + .seconds(seconds) } }
        var source: @Sendable () -> NIODeadline { { self.now.withLockedValue { $0 } } }
    }

    static func answer(_ name: String, ttl: UInt32) -> DNSAnswer {
        DNSAnswer(question: DNSQuestion(name: name, type: .a), responseCode: .noError,
                  records: [.a(name, "192.0.2.1")], canonicalName: name, ttl: ttl)
    }

    @Test("entries expire after their TTL; the TTL handed out counts down")
    func expiry() {
        let clock = Clock()
        let cache = DNSCache(capacity: 10, now: clock.source)
        cache.insert(Self.answer("a.example", ttl: 10))
        clock.advance(4)
        #expect(cache.lookup(DNSQuestion(name: "A.example.", type: .a))?.ttl == 6)
        #expect(cache.lookup(DNSQuestion(name: "a.example", type: .aaaa)) == nil)
        clock.advance(6)
        #expect(cache.lookup(DNSQuestion(name: "a.example", type: .a)) == nil)
        #expect(cache.count == 0)
    }

    @Test("TTL 0 is not stored; TTLs are capped at maxTTL")
    func ttlBounds() {
        let clock = Clock()
        let cache = DNSCache(capacity: 10, maxTTL: 60, now: clock.source)
        cache.insert(Self.answer("zero.example", ttl: 0))
        cache.insert(Self.answer("long.example", ttl: 1_000_000))
        #expect(cache.count == 1)
        clock.advance(61)
        #expect(cache.lookup(DNSQuestion(name: "long.example", type: .a)) == nil)
    }

    @Test("at capacity the oldest entry goes first; updates do not grow it")
    func capacity() {
        let cache = DNSCache(capacity: 3)
        for name in ["a", "b", "c"] { cache.insert(Self.answer("\(name).example", ttl: 60)) }
        for _ in 0..<50 { cache.insert(Self.answer("c.example", ttl: 60)) }
        #expect(cache.count == 3)
        cache.insert(Self.answer("d.example", ttl: 60))
        #expect(cache.count == 3)
        #expect(cache.lookup(DNSQuestion(name: "a.example", type: .a)) == nil)
        #expect(cache.lookup(DNSQuestion(name: "d.example", type: .a)) != nil)
        for i in 0..<1_000 { cache.insert(Self.answer("n\(i).example", ttl: 60)) }
        #expect(cache.count == 3)
    }

    @Test("resolv.conf: nameservers, options, comments; 127.0.0.1 without any")
    func resolvConf() throws {
        let config = DNSResolverConfiguration.parsingResolvConf("""
            # comment
            search example.com
            nameserver 192.0.2.53 # trailing
            nameserver 2001:db8::53
            nameserver not-an-address
            ;nameserver 10.0.0.1
            options timeout:1 attempts:3 rotate
            """)
        #expect(config.nameservers == [try SocketAddress(ipAddress: "192.0.2.53", port: 53),
                                       try SocketAddress(ipAddress: "2001:db8::53", port: 53)])
        #expect(config.timeout == .seconds(1) && config.attempts == 3)
        #expect(DNSResolverConfiguration.parsingResolvConf("").nameservers == [try SocketAddress(ipAddress: "127.0.0.1", port: 53)])
    }

    @Test("SRV: lower priority first, weight 0 after the weighted ones")
    func priorityOrder() {
        let records = [
            DNSSRVRecord(priority: 20, weight: 5, port: 1, target: "c"),
            DNSSRVRecord(priority: 10, weight: 0, port: 1, target: "b0"),
            DNSSRVRecord(priority: 10, weight: 3, port: 1, target: "b"),
            DNSSRVRecord(priority: 5, weight: 0, port: 1, target: "a"),
        ]
        for seed in 0..<20 {
            let ordered = SRVOrdering.order(records, random: SeededRandom(seed: UInt64(seed)).source)
            #expect(ordered.map(\.target) == ["a", "b", "b0", "c"])
        }
    }

    @Test("SRV: weights 1 and 9 at one priority: the heavy one first about 90% of the time")
    func weights() {
        let records = [DNSSRVRecord(priority: 10, weight: 1, port: 1, target: "light"),
                       DNSSRVRecord(priority: 10, weight: 9, port: 1, target: "heavy")]
        let random = SeededRandom(seed: 42)
        var heavyFirst = 0
        for _ in 0..<2_000 {
            let ordered = SRVOrdering.order(records, random: random.source)
            #expect(Set(ordered.map(\.target)) == ["light", "heavy"])
            if ordered.first?.target == "heavy" { heavyFirst += 1 }
        }
        #expect((1_700...1_900).contains(heavyFirst), "heavy first \(heavyFirst) of 2000")
        // A source that always draws 0 picks the first record whose running sum exceeds 0.
        #expect(SRVOrdering.order(records, random: { _ in 0 }).map(\.target) == ["light", "heavy"])
        #expect(SRVOrdering.order(records, random: { $0 - 1 }).map(\.target) == ["heavy", "light"])
    }

    @Test("the target iterator walks the list once, in order")
    func iterator() throws {
        let targets = try (1...3).map { i in
            SIPServerTarget(transport: .udp, host: "h\(i)", port: 5060, address: try SocketAddress(ipAddress: "192.0.2.\(i)", port: 5060))
        }
        var iterator = SIPTargetIterator(targets)
        #expect(iterator.current == nil && iterator.remaining == 3)
        #expect(iterator.next()?.host == "h1")
        #expect(iterator.next()?.host == "h2" && iterator.current?.host == "h2" && iterator.remaining == 1)
        #expect(iterator.next()?.host == "h3")
        #expect(iterator.next() == nil && iterator.next() == nil)
    }
}
