import NIOCore
import Testing
@testable import SIPTransport

@Suite("Listen specs and endpoints")
struct ListenSpecTests {
    @Test("valid specs", arguments: [
        ("udp:0.0.0.0:5060", SIPTransportKind.udp, "0.0.0.0", 5060),
        ("tcp:127.0.0.1:0", .tcp, "127.0.0.1", 0),
        ("tls:[::1]:5061", .tls, "::1", 5061),
        ("TLS:[2001:db8::10]:5070", .tls, "2001:db8::10", 5070),
        ("tcp:sip.example.com:5060", .tcp, "sip.example.com", 5060),
    ])
    func valid(text: String, kind: SIPTransportKind, host: String, port: Int) throws {
        let spec = try ListenSpec(parsing: text)
        #expect(spec.transport == kind)
        #expect(spec.host == host)
        #expect(spec.port == port)
        #expect(try ListenSpec(parsing: spec.description) == spec)
    }

    @Test("invalid specs", arguments: [
        "", "udp", "udp:", "sctp:1.2.3.4:5060", "udp:1.2.3.4", "udp:1.2.3.4:", "udp::5060", "udp:::1:5060",
        "tcp:[::1]5060", "tcp:[::1:5060", "tcp:1.2.3.4:65536", "tcp:1.2.3.4:-1", "tcp:1.2.3.4:50x", "tcp:[1.2.3.4]:5060",
    ])
    func invalid(text: String) {
        #expect(throws: SIPTransportError.self) { try ListenSpec(parsing: text) }
        #expect(ListenSpec(text) == nil)
    }

    @Test("an IPv6 spec prints bracketed")
    func description() throws {
        #expect(ListenSpec(transport: .udp, host: "::1", port: 5060).description == "udp:[::1]:5060")
    }

    @Test("endpoints from numeric addresses only")
    func endpoints() throws {
        let e = try SIPEndpoint(transport: .tcp, ip: "[::1]", port: 5060)
        #expect(e.address == (try SocketAddress(ipAddress: "::1", port: 5060)))
        #expect(throws: SIPTransportError.self) { try SIPEndpoint(transport: .tcp, ip: "example.com", port: 5060) }
    }

    @Test("Via processing helpers")
    func viaHelpers() {
        #expect(ViaProcessing.sameIP("[::1]", "::1"))
        #expect(ViaProcessing.sameIP("[0:0::1]", "::1"))
        #expect(ViaProcessing.sameIP("192.0.2.1", "192.0.2.1"))
        #expect(!ViaProcessing.sameIP("example.com", "192.0.2.1"))
        #expect(!ViaProcessing.sameIP("192.0.2.2", "192.0.2.1"))
    }
}
