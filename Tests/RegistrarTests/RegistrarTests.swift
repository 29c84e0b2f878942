import SIPCore
import Testing
@testable import Registrar
@testable import Store

@Suite("Registrar (RFC 3261 §10.3)")
struct RegistrarTests {
    @Test func addRefreshAndList() async throws {
        let h = try await Harness()
        defer { h.remove() }
        let first = await h.register(try registerRequest())
        #expect(first.statusCode == 200)
        #expect(contactExpiries(first) == ["sip:alice@192.0.2.10:5080;transport=tcp": 3600])
        #expect(first.headers.first("Date")?.hasSuffix(" GMT") == true)
        #expect(first.to?.tag != nil)
        #expect(first.callID == "call-1@192.0.2.10")

        // A second contact from another device, then a refresh of the first with a shorter expiry.
        let second = await h.register(try registerRequest(callID: "call-2", contacts: ["<sip:alice@198.51.100.7>;q=0.5"]))
        #expect(contactExpiries(second) == ["sip:alice@192.0.2.10:5080;transport=tcp": 3600, "sip:alice@198.51.100.7": 3600])
        h.clock.advance(100)
        let refresh = await h.register(try registerRequest(cseq: 2, expires: 600))
        #expect(contactExpiries(refresh) == ["sip:alice@192.0.2.10:5080;transport=tcp": 600, "sip:alice@198.51.100.7": 3500])
        let bindings = await h.registrar.lookup("alice@example.com")
        #expect(bindings.map(\.contact) == ["sip:alice@192.0.2.10:5080;transport=tcp", "sip:alice@198.51.100.7"])
        #expect(bindings.last?.qThousandths == 500)
        #expect(bindings.first?.flow == "tcp#1")
        #expect(second.headers["Contact"].contains { $0.contains(";q=0.5") })

        // A REGISTER without Contact only lists (§10.2.3).
        let query = await h.register(try registerRequest(callID: "call-3", contacts: [], expires: nil))
        #expect(query.statusCode == 200)
        #expect(contactExpiries(query).count == 2)
    }

    @Test func uriEquivalentContactRefreshesTheSameBinding() async throws {
        let h = try await Harness()
        defer { h.remove() }
        _ = await h.register(try registerRequest(contacts: ["<sip:alice@Client.Example.NET:5060>"]))
        let response = await h.register(try registerRequest(cseq: 2, contacts: ["<sip:alice@client.example.net:5060>"], expires: 120))
        #expect(response.statusCode == 200)
        #expect(contactExpiries(response) == ["sip:alice@client.example.net:5060": 120])
    }

    @Test func outOfOrderCSeqIsRefused() async throws {
        let h = try await Harness()
        defer { h.remove() }
        #expect(await h.register(try registerRequest(cseq: 5)).statusCode == 200)
        for stale in [5, 4] {
            let response = await h.register(try registerRequest(cseq: stale, expires: 60))
            #expect(response.statusCode == 500, "CSeq \(stale) after 5")
            #expect(response.headers.first("Retry-After") == nil)
        }
        // Nothing changed: still the 3600 s binding.
        #expect(await h.registrar.lookup("alice@example.com").first?.expiresAt == h.clock.now + 3600)
        // Another Call-ID (a rebooted UA) may replace it whatever its CSeq.
        #expect(await h.register(try registerRequest(callID: "other", cseq: 1, expires: 60)).statusCode == 200)
        #expect(await h.registrar.lookup("alice@example.com").first?.callID == "other")
    }

    @Test func removeWithExpiresZeroAndWildcard() async throws {
        let h = try await Harness()
        defer { h.remove() }
        let contacts = ["<sip:alice@192.0.2.10:5080;transport=tcp>", "<sip:alice@198.51.100.7>"]
        #expect(await h.register(try registerRequest(contacts: contacts)).statusCode == 200)
        let one = await h.register(try registerRequest(cseq: 2, contacts: ["<sip:alice@198.51.100.7>;expires=0"]))
        #expect(contactExpiries(one) == ["sip:alice@192.0.2.10:5080;transport=tcp": 3600])

        // `*` only with Expires: 0, and only alone.
        #expect(await h.register(try registerRequest(cseq: 3, contacts: ["*"], expires: 3600)).statusCode == 400)
        #expect(await h.register(try registerRequest(cseq: 3, contacts: ["*"], expires: nil)).statusCode == 400)
        #expect(await h.register(try registerRequest(cseq: 3, contacts: ["*", "<sip:alice@192.0.2.99>"], expires: 0)).statusCode == 400)
        // Same Call-ID, CSeq not higher than the remaining binding's (1): refused, nothing removed.
        #expect(await h.register(try registerRequest(cseq: 1, contacts: ["*"], expires: 0)).statusCode == 500)
        #expect(await h.registrar.lookup("alice@example.com").count == 1)
        let all = await h.register(try registerRequest(cseq: 4, contacts: ["*"], expires: 0))
        #expect(all.statusCode == 200)
        #expect(all.contacts.isEmpty)
        #expect(await h.registrar.lookup("alice@example.com").isEmpty)
        #expect(try await h.store.loadBindings(now: 0).isEmpty)
    }

    @Test func intervalTooBriefAnswers423WithMinExpires() async throws {
        let h = try await Harness()
        defer { h.remove() }
        let response = await h.register(try registerRequest(contacts: ["<sip:alice@192.0.2.10>;expires=30"]))
        #expect(response.statusCode == 423)
        #expect(response.headers.first("Min-Expires") == "60")
        #expect(await h.registrar.lookup("alice@example.com").isEmpty)
        // Expires past the maximum is shortened, not refused.
        let long = await h.register(try registerRequest(expires: 999_999))
        #expect(contactExpiries(long).values.first == 86_400)
    }

    @Test func capOnBindingsPerAOR() async throws {
        let h = try await Harness(configure: { $0.maxBindingsPerAOR = 2 })
        defer { h.remove() }
        #expect(await h.register(try registerRequest(callID: "a", contacts: ["<sip:alice@192.0.2.1>"])).statusCode == 200)
        #expect(await h.register(try registerRequest(callID: "b", contacts: ["<sip:alice@192.0.2.2>"])).statusCode == 200)
        let third = await h.register(try registerRequest(callID: "c", contacts: ["<sip:alice@192.0.2.3>"]))
        #expect(third.statusCode == 403)
        #expect(await h.registrar.lookup("alice@example.com").count == 2)
        // A request with more contacts than the cap is refused outright.
        let many = (1...3).map { "<sip:alice@198.51.100.\($0)>" }
        #expect(await h.register(try registerRequest(callID: "d", contacts: many)).statusCode == 403)
        // Refreshing an existing binding is still fine at the cap.
        #expect(await h.register(try registerRequest(callID: "a", cseq: 2, contacts: ["<sip:alice@192.0.2.1>"])).statusCode == 200)
    }

    @Test func toMustBeOneOfOurUsers() async throws {
        let h = try await Harness()
        defer { h.remove() }
        #expect(await h.register(try registerRequest("dave")).statusCode == 404)
        #expect(await h.register(try registerRequest("bob")).statusCode == 403)
        let foreign = try parseRequest("""
            REGISTER sip:example.com SIP/2.0
            Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKf1
            From: <sip:alice@example.org>;tag=1
            To: <sip:alice@example.org>
            Call-ID: foreign
            CSeq: 1 REGISTER
            Contact: <sip:alice@192.0.2.10>
            Content-Length: 0


            """)
        #expect(await h.register(foreign).statusCode == 404)
    }

    /// RFC 4475 §3.3.4 (unksm2): a To with a non-SIP scheme is refused with 400 by a registrar.
    @Test func rfc4475UnknownSchemeInTo() async throws {
        let h = try await Harness()
        defer { h.remove() }
        let request = try parseRequest("""
            REGISTER sip:example.com SIP/2.0
            To: isbn:2983792873
            From: <http://www.example.com>;tag=3234233
            Call-ID: unksm2.daksdj@hyphenated-host.example.com
            CSeq: 234902 REGISTER
            Max-Forwards: 70
            Via: SIP/2.0/UDP 192.0.2.21:5060;branch=z9hG4bKkdjuw
            Contact: <name:John_Smith>
            l: 0


            """)
        #expect(await h.register(request).statusCode == 400)
    }

    @Test func authenticatedUserMayOnlyRegisterItself() async throws {
        let h = try await Harness()
        defer { h.remove() }
        let response = await h.registrar.register(try registerRequest("carol"), context: Harness.context, authenticatedAOR: "alice@example.com")
        #expect(response.statusCode == 403)
        #expect(await h.registrar.lookup("carol@example.com").isEmpty)
    }

    @Test func unsupportedRequireAnswers420() async throws {
        let h = try await Harness()
        defer { h.remove() }
        let response = await h.register(try registerRequest(headers: ["Require: path, foo"]))
        #expect(response.statusCode == 420)
        #expect(response.headers.first("Unsupported") == "foo")
    }

    @Test func outboundInstanceAndRegIDReplaceTheirBinding() async throws {
        let h = try await Harness()
        defer { h.remove() }
        let instance = "+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\""
        let headers = ["Supported: path, outbound", "Path: <sip:edge.example.com;lr;ob>"]
        let first = await h.register(try registerRequest(contacts: ["<sip:alice@192.0.2.10:1111>;\(instance);reg-id=1"], headers: headers))
        #expect(first.statusCode == 200)
        #expect(first.headers.first("Require") == "outbound")
        #expect(first.headers.first("Path") == "<sip:edge.example.com;lr;ob>")
        // Same instance and reg-id from a new address (new flow): replaces, does not add.
        let second = await h.register(try registerRequest(callID: "new", contacts: ["<sip:alice@192.0.2.10:2222>;\(instance);reg-id=1"], headers: headers))
        #expect(contactExpiries(second) == ["sip:alice@192.0.2.10:2222": 3600])
        let binding = try #require(await h.registrar.lookup("alice@example.com").first)
        #expect(binding.instance == "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>")
        #expect(binding.regID == 1)
        #expect(binding.path == ["<sip:edge.example.com;lr;ob>"])
        #expect(second.headers["Contact"].first?.contains("+sip.instance=\"<urn:uuid:") == true)
    }

    @Test func bindingsSurviveARestartAndExpire() async throws {
        let clock = ManualClock()
        let h = try await Harness(clock: clock)
        defer { h.remove() }
        #expect(await h.register(try registerRequest(expires: 120)).statusCode == 200)
        try h.store.close()
        let restarted = try await Harness(dir: h.dir, clock: clock)
        #expect(await restarted.registrar.lookup("sip:alice@example.com").count == 1)
        clock.advance(120)
        #expect(await restarted.registrar.lookup("alice@example.com").isEmpty)
    }

    @Test func storeFailureAnswers500WithRetryAfter() async throws {
        let seeded = try await Harness()
        defer { seeded.remove() }
        #expect(await seeded.register(try registerRequest()).statusCode == 200)
        try seeded.store.close()
        var readOnly = SQLiteStore.Configuration()
        readOnly.readOnly = true
        let h = try await Harness(storeConfiguration: readOnly, dir: seeded.dir, clock: seeded.clock)
        let response = await h.register(try registerRequest("carol", contacts: ["<sip:carol@192.0.2.11>"]))
        #expect(response.statusCode == 500)
        #expect(response.headers.first("Retry-After") == "5")
        #expect(await h.registrar.lookup("carol@example.com").isEmpty)
        // What was stored is intact and still served.
        #expect(await h.registrar.lookup("alice@example.com").count == 1)
    }

    @Test(arguments: [(1000, "1"), (0, "0"), (500, "0.5"), (25, "0.025"), (120, "0.12")] as [(UInt16, String)])
    func qValueFormatting(thousandths: UInt16, text: String) {
        #expect(Registrar.formatQ(thousandths) == text)
    }

    @Test func dateHeaderFormat() {
        #expect(Registrar.httpDate(0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(Registrar.httpDate(1_289_690_940) == "Sat, 13 Nov 2010 23:29:00 GMT")
        #expect(Registrar.httpDate(951_782_400) == "Tue, 29 Feb 2000 00:00:00 GMT")
    }
}
