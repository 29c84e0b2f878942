import Testing
@testable import SIPCore

@Suite("Serialized size bound")
struct SerializedSizeTests {
    /// Every torture request that parses: the bound is never below the real length (a
    /// request judged small by it really is), and not far above it.
    @Test func theBoundIsNeverBelowTheSerializedLength() throws {
        var checked = 0
        for row in Fixtures.rows {
            guard case .request(var request)? = try? SIPParser.parseDatagram(row.bytes) else { continue }
            request.headers.insertFirst("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-bound")  // edited, as a proxy does
            let length = request.serialized().count
            #expect(request.serializedSizeBound >= length, "\(row)")
            #expect(request.serializedSizeBound <= length + 64 + 32 * request.headers.count, "\(row)")
            checked += 1
        }
        #expect(checked > 20)
    }
}
