import NIOCore
import Testing
@testable import SIPTransport

/// A refused connection is logged at most once a second, the next line counting the rest.
@Suite("Notice rate limit")
struct NoticeRateLimitTests {
    @Test func onceAnIntervalWithTheCountLeftOut() {
        let limit = NoticeRateLimit(interval: .seconds(1))
        let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)
        #expect(limit.admit(now: t0) == 0)
        for ms in 1...500 { #expect(limit.admit(now: t0 + .milliseconds(Int64(ms))) == nil) }
        #expect(limit.admit(now: t0 + .milliseconds(1_000)) == 500)
        #expect(limit.admit(now: t0 + .milliseconds(1_001)) == nil)
    }
}
