import SIPCore
import Testing
@testable import Roles

/// A package user's steps in a built-in policy (`HomeServerPolicy.inserting(_:before:)`).
@Suite struct PolicyExtensionTests {
    /// Busy for bob alone; passes everything else on.
    struct BobIsBusy: RoutingStep {
        let name = "bob-is-busy"
        func process(_ context: inout RoutingContext) -> RoutingDecision? {
            context.request.uri.sipURI?.user == "bob" ? .respond(StatusAnswer(486)) : nil
        }
    }

    let tests = HomeServerPolicyTests()

    @Test func theStepRunsJustBeforeTheNamedOneAndTheOthersStay() async throws {
        let base = tests.policy()
        let extended = try base.inserting([BobIsBusy()], before: "location")
        var expected = base.stepNames
        expected.insert("bob-is-busy", at: expected.count - 1)
        #expect(extended.stepNames == expected)

        var toBob = RoutingContext(request: try tests.message(to: "sip:bob@example.com"), source: tests.source)
        #expect(extended.decide(&toBob) == .respond(StatusAnswer(486)))
        // Carol is not bob: the built-in location step still answers (no binding: 480).
        var toCarol = RoutingContext(request: try tests.message(to: "sip:carol@example.com"), source: tests.source)
        #expect(extended.decide(&toCarol) == .respond(StatusAnswer(480)))
        // The original policy is unchanged.
        var again = RoutingContext(request: try tests.message(to: "sip:bob@example.com"), source: tests.source)
        guard case .forward = base.decide(&again) else {
            Issue.record("the base policy should still forward to bob's contacts")
            return
        }
    }

    @Test func anUnknownStepNameIsABadConfiguration() throws {
        #expect(throws: RolesError.self) { try tests.policy().inserting([BobIsBusy()], before: "no-such-step") }
        do {
            _ = try tests.policy().inserting([BobIsBusy()], before: "locaton")
        } catch {
            #expect(error.code == .badConfiguration)
            #expect(error.reason.contains("locaton"))
        }
    }
}
