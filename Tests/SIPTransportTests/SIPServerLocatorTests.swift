import NIOCore
import NIOPosix
import SIPCore
import Testing
@testable import SIPTransport

@Suite("RFC 3263 §4 server location over a DNS table")
struct SIPServerLocatorTests {
    static let loop = MultiThreadedEventLoopGroup.singleton.next()

    /// example.com: NAPTR for all three services, SRV with two priorities, A/AAAA records.
    static let zone: [DNSResourceRecord] = [
        .naptr("example.com", 20, 10, "SIP+D2U", "_sip._udp.example.com"),
        .naptr("example.com", 10, 20, "SIP+D2T", "_sip._tcp.example.com"),
        .naptr("example.com", 10, 10, "SIPS+D2T", "_sips._tcp.example.com"),
        .naptr("example.com", 5, 10, "E2U+sip", "ignored.example.com"),
        .naptr("example.com", 5, 10, "SIP+D2T", "", regexp: "!^.*$!sip:x@y!"),
        .srv("_sips._tcp.example.com", 10, 1, 5061, "tls.example.com"),
        .srv("_sip._tcp.example.com", 20, 1, 5070, "backup.example.com"),
        .srv("_sip._tcp.example.com", 10, 1, 5060, "primary.example.com"),
        .srv("_sip._udp.example.com", 10, 1, 5060, "primary.example.com"),
        .a("tls.example.com", "192.0.2.10"),
        .a("primary.example.com", "192.0.2.1"),
        .aaaa("primary.example.com", "2001:db8::1"),
        .a("backup.example.com", "192.0.2.2"),
        // srv.example.org: no NAPTR, SRV for TCP and UDP only
        .srv("_sip._udp.srv.example.org", 10, 1, 5062, "u.example.org"),
        .srv("_sip._tcp.srv.example.org", 10, 1, 5063, "t.example.org"),
        .srv("_sip._tcp.srv.example.org", 0, 0, 0, ""),
        .a("u.example.org", "198.51.100.1"),
        .a("t.example.org", "198.51.100.2"),
        // plain.example.net: A only
        .a("plain.example.net", "203.0.113.1"),
    ]

    func locator(options: SIPServerLocator.Options = .init(), failing: Set<String> = []) -> (SIPServerLocator, FakeDNS) {
        let dns = FakeDNS(loop: Self.loop, records: Self.zone, failing: failing)
        return (SIPServerLocator(resolver: dns, options: options, random: SeededRandom(seed: 1).source), dns)
    }

    func locate(_ uri: String, options: SIPServerLocator.Options = .init(), failing: Set<String> = []) async throws -> [String] {
        let (locator, _) = locator(options: options, failing: failing)
        return try await locator.locate(try #require(SIPURI(uri)), on: Self.loop).get().map(\.description)
    }

    @Test("numeric hosts need no DNS", arguments: [
        ("sip:alice@192.0.2.7", "udp:192.0.2.7:5060@192.0.2.7:5060"),
        ("sips:alice@192.0.2.7", "tls:192.0.2.7:5061@192.0.2.7:5061"),
        ("sip:[2001:db8::7]:5070;transport=tcp", "tcp:2001:db8::7:5070@[2001:db8::7]:5070"),
        ("sip:alice@example.com;maddr=192.0.2.9;transport=tls", "tls:192.0.2.9:5061@192.0.2.9:5061"),
    ])
    func numeric(uri: String, expected: String) async throws {
        let (locator, dns) = locator()
        let targets = try await locator.locate(try #require(SIPURI(uri)), on: Self.loop).get()
        #expect(targets.map(\.description) == [expected])
        #expect(dns.questions.isEmpty)
        #expect(targets.first?.tlsServerName == nil)
    }

    @Test("NAPTR: by order then preference; SRV by priority; A before AAAA; TLS checks the domain")
    func naptr() async throws {
        let (locator, dns) = locator()
        let targets = try await locator.locate(try #require(SIPURI("sip:bob@Example.COM")), on: Self.loop).get()
        #expect(targets.map(\.description) == [
            "tls:tls.example.com:5061@192.0.2.10:5061",
            "tcp:primary.example.com:5060@192.0.2.1:5060",
            "tcp:primary.example.com:5060@[2001:db8::1]:5060",
            "tcp:backup.example.com:5070@192.0.2.2:5070",
            "udp:primary.example.com:5060@192.0.2.1:5060",
            "udp:primary.example.com:5060@[2001:db8::1]:5060",
        ])
        #expect(targets[0].tlsServerName == "example.com" && targets[1].tlsServerName == nil)
        #expect(targets[0].endpoint == SIPEndpoint(transport: .tls, address: targets[0].address, tlsServerName: "example.com"))
        #expect(!dns.questions.contains(DNSQuestion(name: "ignored.example.com", type: .srv)))
    }

    @Test("sips: only SIPS+D2T")
    func sips() async throws {
        #expect(try await locate("sips:bob@example.com") == ["tls:tls.example.com:5061@192.0.2.10:5061"])
    }

    @Test("the transports the caller lacks are left out; IPv6 can be preferred or off")
    func options() async throws {
        var noTLS = SIPServerLocator.Options()
        noTLS.transports = [.udp, .tcp]
        noTLS.useIPv6 = false
        #expect(try await locate("sip:example.com", options: noTLS) == [
            "tcp:primary.example.com:5060@192.0.2.1:5060", "tcp:backup.example.com:5070@192.0.2.2:5070",
            "udp:primary.example.com:5060@192.0.2.1:5060",
        ])
        var v6 = SIPServerLocator.Options()
        v6.preferIPv6 = true
        #expect(try await locate("sip:example.com;transport=udp", options: v6) == [
            "udp:primary.example.com:5060@[2001:db8::1]:5060", "udp:primary.example.com:5060@192.0.2.1:5060",
        ])
        var udpOnly = SIPServerLocator.Options()
        udpOnly.transports = [.udp]
        await #expect(throws: SIPTransportError.self) { try await locate("sips:example.com", options: udpOnly) }
    }

    @Test("a transport parameter: SRV for that transport only")
    func transportParameter() async throws {
        let (locator, dns) = locator()
        let targets = try await locator.locate(try #require(SIPURI("sip:example.com;transport=tcp")), on: Self.loop).get()
        #expect(targets.map(\.port) == [5060, 5060, 5070])
        #expect(!dns.questions.contains { $0.type == .naptr })
        #expect(try await locate("sip:plain.example.net;transport=tcp") == ["tcp:plain.example.net:5060@203.0.113.1:5060"])
    }

    @Test("an explicit port: A/AAAA only")
    func explicitPort() async throws {
        let (locator, dns) = locator()
        let targets = try await locator.locate(try #require(SIPURI("sip:primary.example.com:5099")), on: Self.loop).get()
        #expect(targets.map(\.description) == ["udp:primary.example.com:5099@192.0.2.1:5099",
                                               "udp:primary.example.com:5099@[2001:db8::1]:5099"])
        #expect(Set(dns.questions.map(\.type)) == [.a, .aaaa])
    }

    @Test("no NAPTR: SRV for TLS, TCP, UDP in that order; a '.' target is skipped")
    func srvFallback() async throws {
        #expect(try await locate("sip:srv.example.org") == ["tcp:t.example.org:5063@198.51.100.2:5063",
                                                           "udp:u.example.org:5062@198.51.100.1:5062"])
    }

    @Test("no NAPTR, no SRV: A with UDP 5060, or TLS 5061 for sips")
    func addressFallback() async throws {
        #expect(try await locate("sip:plain.example.net") == ["udp:plain.example.net:5060@203.0.113.1:5060"])
        #expect(try await locate("sips:plain.example.net") == ["tls:plain.example.net:5061@203.0.113.1:5061"])
    }

    @Test("nothing found: dnsNotFound; lookups that fail: their error")
    func failures() async throws {
        let (locator, _) = locator()
        let notFound = await #expect(throws: SIPTransportError.self) {
            try await locator.locate(host: "nowhere.example", port: nil, transport: nil, secure: false, on: Self.loop).get()
        }
        #expect(notFound?.code == .dnsNotFound)
        let (failing, _) = self.locator(failing: ["down.example", "_sips._tcp.down.example", "_sip._tcp.down.example", "_sip._udp.down.example"])
        let timedOut = await #expect(throws: SIPTransportError.self) {
            try await failing.locate(host: "down.example", port: nil, transport: nil, secure: false, on: Self.loop).get()
        }
        #expect(timedOut?.code == .dnsTimeout)
        // A target whose address lookup fails is skipped; the others remain.
        let partial = try await self.locate("sip:example.com;transport=tcp", failing: ["primary.example.com"])
        #expect(partial == ["tcp:backup.example.com:5070@192.0.2.2:5070"])
    }
}
