import Foundation
import SIPTestSupport
import NIOCore
import NIOPosix
import SIPCore
import Testing
@testable import SIPTransport

/// RFC 3263 against a real dnsmasq (package dnsmasq-base, installed by scripts/test). Without
/// it these tests fail with the reason; they are never skipped silently.
@Suite("RFC 3263 resolver against a real dnsmasq", .serialized)
struct DNSMasqTests {
    static let domains = ["example.test", "weighted.test", "srvonly.test", "aonly.test"]
    static let records = [
        "--naptr-record=example.test,20,50,s,SIP+D2U,,_sip._udp.example.test",
        "--naptr-record=example.test,10,50,s,SIP+D2T,,_sip._tcp.example.test",
        "--naptr-record=example.test,10,10,s,SIPS+D2T,,_sips._tcp.example.test",
        "--srv-host=_sips._tcp.example.test,tls1.example.test,5061,10,1",
        "--srv-host=_sip._tcp.example.test,backup.example.test,5080,20,1",
        "--srv-host=_sip._tcp.example.test,primary.example.test,5060,10,1",
        "--srv-host=_sip._udp.example.test,udp1.example.test,5060,10,1",
        "--host-record=tls1.example.test,192.0.2.10",
        "--host-record=primary.example.test,192.0.2.1,2001:db8::1",
        "--host-record=backup.example.test,192.0.2.2",
        "--host-record=udp1.example.test,192.0.2.3",
        "--cname=alias.example.test,primary.example.test",
        "--srv-host=_sip._udp.weighted.test,light.weighted.test,5060,10,1",
        "--srv-host=_sip._udp.weighted.test,heavy.weighted.test,5060,10,9",
        "--host-record=light.weighted.test,198.51.100.1",
        "--host-record=heavy.weighted.test,198.51.100.9",
        "--srv-host=_sip._tcp.srvonly.test,t.srvonly.test,5070,10,1",
        "--host-record=t.srvonly.test,198.51.100.70",
        "--host-record=aonly.test,203.0.113.5",
    ]

    /// A running dnsmasq, a resolver asking it, and a locator with a seeded random source.
    struct Fixture {
        let dnsmasq: DNSMasq
        let resolver: DNSResolver
        let locator: SIPServerLocator
        let loop: any EventLoop

        init(seed: UInt64 = 7) async throws {
            dnsmasq = try await DNSMasq.start(domains: DNSMasqTests.domains, records: DNSMasqTests.records)
            loop = MultiThreadedEventLoopGroup.singleton.next()
            resolver = DNSResolver(configuration: DNSResolverConfiguration(nameservers: [dnsmasq.address], timeout: .seconds(2)),
                                   eventLoop: loop)
            locator = SIPServerLocator(resolver: resolver, random: SeededRandom(seed: seed).source)
        }

        func locate(_ uri: String) async throws -> [SIPServerTarget] {
            try await locator.locate(try #require(SIPURI(uri)), on: loop).get()
        }

        func stop() async {
            try? await resolver.shutdown()
            dnsmasq.stop()
        }
    }

    @Test("dnsmasq is installed (apt-get install dnsmasq-base)")
    func installed() {
        #expect(FileManager.default.isExecutableFile(atPath: DNSMasq.path), "\(DNSMasqMissing())")
    }

    @Test("NAPTR → SRV → A/AAAA: order, preference, priority")
    func naptrChain() async throws {
        let f = try await Fixture()
        let targets = try await f.locate("sip:bob@example.test")
        await f.stop()
        #expect(targets.map(\.description) == [
            "tls:tls1.example.test:5061@192.0.2.10:5061",
            "tcp:primary.example.test:5060@192.0.2.1:5060",
            "tcp:primary.example.test:5060@[2001:db8::1]:5060",
            "tcp:backup.example.test:5080@192.0.2.2:5080",
            "udp:udp1.example.test:5060@192.0.2.3:5060",
        ])
        #expect(targets.first?.tlsServerName == "example.test")
    }

    @Test("sips, transport parameter, explicit port, CNAME, SRV and A fallbacks")
    func otherRules() async throws {
        let f = try await Fixture()
        let sips = try await f.locate("sips:bob@example.test").map(\.description)
        let tcp = try await f.locate("sip:example.test;transport=tcp").map(\.description)
        let port = try await f.locate("sip:alias.example.test:5099").map(\.description)
        let srvOnly = try await f.locate("sip:srvonly.test").map(\.description)
        let aOnly = try await f.locate("sip:aonly.test").map(\.description)
        let aOnlySecure = try await f.locate("sips:aonly.test").map(\.description)
        let missing = await #expect(throws: SIPTransportError.self) { try await f.locate("sip:nothere.example.test") }
        await f.stop()
        #expect(sips == ["tls:tls1.example.test:5061@192.0.2.10:5061"])
        #expect(tcp == ["tcp:primary.example.test:5060@192.0.2.1:5060", "tcp:primary.example.test:5060@[2001:db8::1]:5060",
                        "tcp:backup.example.test:5080@192.0.2.2:5080"])
        #expect(port == ["udp:alias.example.test:5099@192.0.2.1:5099", "udp:alias.example.test:5099@[2001:db8::1]:5099"])
        #expect(srvOnly == ["tcp:t.srvonly.test:5070@198.51.100.70:5070"])
        #expect(aOnly == ["udp:aonly.test:5060@203.0.113.5:5060"])
        #expect(aOnlySecure == ["tls:aonly.test:5061@203.0.113.5:5061"])
        #expect(missing?.code == .dnsNotFound)
    }

    @Test("SRV weights 1 and 9: the heavy target first in about 9 of 10 lists (seeded)")
    func weights() async throws {
        let f = try await Fixture(seed: 2782)
        var heavyFirst = 0
        for _ in 0..<1_000 {
            let targets = try await f.locate("sip:weighted.test;transport=udp")
            #expect(targets.count == 2)
            if targets.first?.host == "heavy.weighted.test" { heavyFirst += 1 }
        }
        await f.stop()
        #expect((840...960).contains(heavyFirst), "heavy first in \(heavyFirst) of 1000")
    }

    @Test("failover: the iterator gives the first target, then the next on failure")
    func failover() async throws {
        let f = try await Fixture()
        var iterator = SIPTargetIterator(try await f.locate("sip:example.test;transport=tcp"))
        await f.stop()
        let next = iterator.next()
        let first = try #require(next)
        #expect(first.host == "primary.example.test" && first.endpoint.description == "tcp:192.0.2.1:5060")
        // primary's IPv4 address refused the connection: next is its IPv6 address, then the backup.
        #expect(iterator.next()?.endpoint.description == "tcp:[2001:db8::1]:5060")
        #expect(iterator.next()?.endpoint.description == "tcp:192.0.2.2:5080")
        #expect(iterator.next() == nil)
    }

    @Test("answers are cached (also negative ones) and outlive the nameserver")
    func cache() async throws {
        let f = try await Fixture()
        let first = try await f.resolver.query("primary.example.test", type: .a)
        let negative = try await f.resolver.query("nothere.example.test", type: .a)
        f.dnsmasq.stop()
        let again = try await f.resolver.query("PRIMARY.example.test.", type: .a)
        let negativeAgain = try await f.resolver.query("nothere.example.test", type: .a)
        try? await f.resolver.shutdown()
        #expect(first.records == again.records && !again.isNegative && again.ttl <= 300)
        #expect(negative.responseCode == .nameError && negative.isNegative && negativeAgain.isNegative)
        #expect(negative.ttl <= 30)
    }

    @Test("a dead nameserver: timeout, then the next nameserver answers")
    func nameserverFailover() async throws {
        let dnsmasq = try await DNSMasq.start(domains: Self.domains, records: Self.records)
        let dead = try SocketAddress(ipAddress: "127.0.0.1", port: 9)  // discard: nothing answers
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let both = DNSResolver(configuration: DNSResolverConfiguration(nameservers: [dead, dnsmasq.address],
                                                                       timeout: .milliseconds(300), attempts: 1),
                               eventLoop: loop)
        let answer = try await both.query("aonly.test", type: .a)
        #expect(answer.records.first?.socketAddress(port: 1)?.ipAddress == "203.0.113.5")
        let onlyDead = DNSResolver(configuration: DNSResolverConfiguration(nameservers: [dead], timeout: .milliseconds(200),
                                                                           attempts: 2),
                                   eventLoop: loop)
        let error = await #expect(throws: SIPTransportError.self) { try await onlyDead.query("aonly.test", type: .a) }
        #expect(error?.code == .dnsTimeout)
        try await both.shutdown()
        try await onlyDead.shutdown()
        dnsmasq.stop()
    }

    @Test("an answer too large for UDP (TC set) is asked again over TCP")
    func truncatedOverTCP() async throws {
        let many = (1...150).map { "--host-record=big.example.test,10.0.\($0 / 100).\($0 % 100 + 1)" }
        let dnsmasq = try await DNSMasq.start(domains: ["example.test"], records: many)
        let resolver = DNSResolver(configuration: DNSResolverConfiguration(nameservers: [dnsmasq.address]),
                                   eventLoop: MultiThreadedEventLoopGroup.singleton.next())
        let answer = try await resolver.query("big.example.test", type: .a)
        try await resolver.shutdown()
        dnsmasq.stop()
        #expect(answer.records.count == 150)  // 150 A records need ~2.4 KB; UDP carries 1232 bytes
    }

    @Test("many concurrent questions share the loop and all complete")
    func concurrent() async throws {
        let f = try await Fixture()
        let names = ["primary", "backup", "tls1", "udp1", "alias"].map { "\($0).example.test" }
        let futures = (0..<200).map { i in f.resolver.query(names[i % names.count], type: i % 2 == 0 ? .a : .aaaa, on: f.loop) }
        let answers = try await EventLoopFuture.whenAllSucceed(futures, on: f.loop).get()
        await f.stop()
        #expect(answers.count == 200)
        #expect(answers.filter { !$0.isNegative }.count == 140)  // 100 A + 40 AAAA (primary, alias)
    }
}
