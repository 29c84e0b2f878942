import SIPTransport
import Testing
@testable import Roles

/// A binding's flow token read back on every lookup: the fast reading agrees with the full
/// parse (`SIPEndpoint(flowToken:)`), and anything unusual falls back to it.
@Suite struct FlowTokenTests {
    @Test(arguments: [
        "tcp:127.0.0.1:5080#17", "tls:192.0.2.10:40000#9", "tcp:[2001:db8::1]:5061#3", "tcp:[::1]:5060#1",
    ])
    func fastReadingAgreesWithTheFullParse(_ token: String) throws {
        let endpoint = try SIPEndpoint(flowToken: token)
        let fast = try #require(StoreLocationService.flowAddressFast(token))
        #expect(fast.host == endpoint.address.ipAddress)
        #expect(fast.port == endpoint.address.port)
        #expect(StoreLocationService.flowAddress(token) == fast)
    }

    @Test(arguments: ["17", "tcp:host.example:5060#4", "tcp:127.0.0.1#4", "tcp:127.0.0.1:0#4", "tcp:127.0.0.1:99999#4",
                      "tcp:[zz::1]:5060#2", "tcp:1.2.3:5060#1", ""])
    func unusualTokensTakeTheFullParse(_ token: String) {
        #expect(StoreLocationService.flowAddressFast(token) == nil)
    }
}
