import SIPCore
import Testing
@testable import Roles

/// RFC 3261 §16.7 response processing, §16.8 timer C and §16.10 CANCEL, on the pure context.
@Suite struct ResponseContextTests {
    func context(branches: Int, method: String = "INVITE") throws -> ResponseContext {
        var r = try invite()
        if method != "INVITE" {
            r.method = SIPMethod(method)
            r.headers.replace("CSeq", with: "1 \(method)")
        }
        var c = ResponseContext(request: r)
        for _ in 0..<branches { _ = c.addBranch() }
        return c
    }

    func forwarded(_ actions: [ResponseContext.Action]) -> [Int] {
        actions.compactMap { if case .forward(let r) = $0 { return r.statusCode } else { return nil } }
    }

    func cancels(_ actions: [ResponseContext.Action]) -> [Int] {
        actions.compactMap { if case .cancel(let b) = $0 { return b } else { return nil } }
    }

    /// §16.7 step 4: with a budget, a 3xx's contacts become new branches; without one, or
    /// once it is spent, the 3xx is a final response like another.
    @Test func redirectIsRecursedWithinItsBudget() throws {
        var c = try context(branches: 1, method: "MESSAGE")
        c.redirectBudget = 1
        let moved = response(301, to: c.request, headers: [("Contact", "<sip:192.0.2.5:5061;transport=tls>, <sip:bob@192.0.2.6>")])
        let actions = c.receive(moved, on: 0)
        guard case .redirect(let opened) = actions.last else { Issue.record("no recursion: \(actions)"); return }
        #expect(opened.map(\.index) == [1, 2])
        #expect(opened.map(\.contact.description) == ["sip:192.0.2.5:5061;transport=tls", "sip:bob@192.0.2.6"])
        #expect(forwarded(actions).isEmpty)
        #expect(forwarded(c.receive(moved, on: 1)).isEmpty)  // budget spent: a plain final response
        #expect(forwarded(c.receive(response(200, to: c.request), on: 2)) == [200])

        var plain = try context(branches: 1, method: "MESSAGE")
        #expect(forwarded(plain.receive(moved, on: 0)) == [301])
    }

    @Test func provisionalIsForwardedButNot100() throws {
        var c = try context(branches: 1)
        #expect(forwarded(c.receive(response(100, to: c.request), on: 0)).isEmpty)
        let actions = c.receive(response(180, to: c.request), on: 0)
        #expect(forwarded(actions) == [180])
        #expect(actions.contains(.restartTimerC(branch: 0)))
    }

    @Test func twoHundredToInviteGoesAtOnceAndCancelsOtherBranches() throws {
        var c = try context(branches: 3)
        _ = c.receive(response(180, to: c.request), on: 1)
        let actions = c.receive(response(200, to: c.request), on: 0)
        #expect(forwarded(actions) == [200])
        // Branch 1 rang: CANCEL now. Branch 2 has not answered: CANCEL on its first provisional.
        #expect(cancels(actions) == [1])
        #expect(c.addBranch() == nil)
        #expect(cancels(c.receive(response(183, to: c.request), on: 2)) == [2])
        // A second 2xx from another fork also goes upstream.
        #expect(forwarded(c.receive(response(200, to: c.request), on: 1)) == [200])
        _ = c.receive(response(487, to: c.request), on: 2)
        #expect(c.isFinished)
    }

    @Test func sixHundredWinsOverLowerClasses() throws {
        var c = try context(branches: 3)
        #expect(forwarded(c.receive(response(404, to: c.request), on: 0)).isEmpty)
        _ = c.receive(response(180, to: c.request), on: 2)
        let six = c.receive(response(603, to: c.request), on: 1)
        #expect(forwarded(six).isEmpty)  // not forwarded at once (§16.7 step 5)
        #expect(cancels(six) == [2])
        #expect(forwarded(c.receive(response(487, to: c.request), on: 2)) == [603])
    }

    @Test func lowestClassWins() throws {
        var c = try context(branches: 3)
        _ = c.receive(response(486, to: c.request), on: 0)
        _ = c.receive(response(302, to: c.request), on: 1)
        #expect(forwarded(c.receive(response(500, to: c.request), on: 2)) == [302])
    }

    @Test func serviceUnavailableBecomes500() throws {
        var c = try context(branches: 1)
        #expect(forwarded(c.receive(response(503, to: c.request), on: 0)) == [500])
    }

    @Test func timeoutsAloneGive408() throws {
        var c = try context(branches: 2, method: "MESSAGE")
        #expect(forwarded(c.branchFailed(0, status: 408)).isEmpty)
        #expect(forwarded(c.branchFailed(1, status: 408)) == [408])
    }

    @Test func realResponseIsPreferredOverTimeoutInItsClass() throws {
        var c = try context(branches: 2, method: "MESSAGE")
        _ = c.branchFailed(0, status: 408)
        #expect(forwarded(c.receive(response(486, to: c.request), on: 1)) == [486])
    }

    @Test func challengesAreAggregated() throws {
        var c = try context(branches: 2)
        _ = c.receive(response(401, to: c.request, headers: [("WWW-Authenticate", "Digest realm=\"a\", nonce=\"1\"")]), on: 0)
        let actions = c.receive(response(407, to: c.request, headers: [("Proxy-Authenticate", "Digest realm=\"b\", nonce=\"2\"")]), on: 1)
        guard case .forward(let best)? = actions.last else { Issue.record("no response forwarded"); return }
        #expect(best.statusCode == 401)
        #expect(best.headers.filter { $0.name == "WWW-Authenticate" }.map(\.value) == ["Digest realm=\"a\", nonce=\"1\""])
        #expect(best.headers.filter { $0.name == "Proxy-Authenticate" }.map(\.value) == ["Digest realm=\"b\", nonce=\"2\""])
    }

    @Test func nonInviteFirst2xxWinsAndLaterFinalsAreDropped() throws {
        var c = try context(branches: 2, method: "MESSAGE")
        #expect(forwarded(c.receive(response(200, to: c.request), on: 1)) == [200])
        #expect(forwarded(c.receive(response(200, to: c.request), on: 0)).isEmpty)
        #expect(c.isFinished)
    }

    @Test func cancelReceivedCancelsRingingBranchesAndWaits() throws {
        var c = try context(branches: 2)
        _ = c.receive(response(180, to: c.request), on: 0)
        #expect(cancels(c.cancelReceived()) == [0])
        #expect(forwarded(c.receive(response(487, to: c.request), on: 0)).isEmpty)
        // Branch 1 never rang: its CANCEL waits for a provisional; it then answers 487.
        #expect(cancels(c.receive(response(180, to: c.request), on: 1)) == [1])
        #expect(forwarded(c.receive(response(487, to: c.request), on: 1)) == [487])
    }

    @Test func timerCCancelsARingingBranch() throws {
        var c = try context(branches: 1)
        _ = c.receive(response(180, to: c.request), on: 0)
        #expect(c.timerCFired(on: 0) == [.cancel(branch: 0)])
        #expect(forwarded(c.receive(response(487, to: c.request), on: 0)) == [487])
    }

    @Test func timerCWithoutProvisionalIs408() throws {
        var c = try context(branches: 1)
        #expect(forwarded(c.timerCFired(on: 0)) == [408])
    }
}
