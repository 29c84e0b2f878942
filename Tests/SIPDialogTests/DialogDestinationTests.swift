import SIPCore
import SIPTransaction
import SIPTransport
import Testing
@testable import SIPDialog

/// RFC 3263 without DNS for the next hop of a dialog.
@Suite struct DialogDestinationTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var uri: String
        var transport: SIPTransportKind
        var host: String
        var port: Int
        var testDescription: String { uri }
    }

    @Test(arguments: [
        Case(uri: "sip:a.example", transport: .udp, host: "a.example", port: 5060),
        Case(uri: "sip:bob@A.Example:5080", transport: .udp, host: "a.example", port: 5080),
        Case(uri: "sip:a.example;transport=udp", transport: .udp, host: "a.example", port: 5060),
        Case(uri: "sip:a.example;transport=tcp", transport: .tcp, host: "a.example", port: 5060),
        Case(uri: "sip:a.example;transport=TLS", transport: .tls, host: "a.example", port: 5061),
        Case(uri: "sip:a.example:5070;transport=tls", transport: .tls, host: "a.example", port: 5070),
        Case(uri: "sips:a.example", transport: .tls, host: "a.example", port: 5061),
        Case(uri: "sips:a.example:5071;transport=tcp", transport: .tls, host: "a.example", port: 5071),
        Case(uri: "sip:a.example;maddr=192.0.2.9", transport: .udp, host: "192.0.2.9", port: 5060),
        Case(uri: "sip:a.example:5090;transport=tcp;maddr=192.0.2.9", transport: .tcp, host: "192.0.2.9", port: 5090),
        Case(uri: "sip:[2001:DB8::1]:5070;transport=tcp", transport: .tcp, host: "2001:db8::1", port: 5070),
        Case(uri: "sips:[2001:db8::2]", transport: .tls, host: "2001:db8::2", port: 5061),
        Case(uri: "sip:198.51.100.7;lr", transport: .udp, host: "198.51.100.7", port: 5060),
    ])
    func resolve(_ c: Case) throws {
        let uri = try #require(URI(c.uri))
        let d = try #require(DialogDestination.resolve(uri))
        #expect(d.transport == c.transport)
        #expect(d.address == SIPHostPort(host: c.host, port: c.port))
        #expect(d.flowID == nil)
        #expect(d.flowAddress == nil)
    }

    @Test func ipv6AddressPrintsBracketed() throws {
        let d = try #require(DialogDestination.resolve(URI("sip:[2001:db8::1]:5070")!))
        #expect(d.address.description == "[2001:db8::1]:5070")
    }

    @Test func nonSIPURIHasNoDestination() {
        #expect(DialogDestination.resolve(URI("tel:+1-201-555-0123")!) == nil)
        #expect(DialogDestination.resolve(URI("mailto:bob@example.com")!) == nil)
    }

    /// RFC 5626: the flow and its remote address travel with the destination; the address
    /// alone means nothing.
    @Test func flow() throws {
        let peer = SIPHostPort(host: "198.51.100.7", port: 40000)
        let withFlow = try #require(DialogDestination.resolve(URI("sip:bob@198.51.100.7:5062;transport=tcp")!, flowID: 9, flowAddress: peer))
        #expect(withFlow.flowID == 9)
        #expect(withFlow.flowAddress == peer)
        #expect(withFlow.address == SIPHostPort(host: "198.51.100.7", port: 5062))
        let noFlow = try #require(DialogDestination.resolve(URI("sip:bob@198.51.100.7")!, flowAddress: peer))
        #expect(noFlow.flowAddress == nil)
    }
}
