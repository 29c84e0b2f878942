import SIPCore
import Testing
@testable import SIPTransaction

/// Matching rules: §17.1.3 (client) and §17.2.3 (server), CANCEL to INVITE (§9.2).
@Suite struct TransactionKeyTests {
    @Test func serverKeyUsesBranchSentByAndMethod() throws {
        let options = request("OPTIONS", branch: "z9hG4bKk1")
        let key = try #require(ServerTransactionKey(request: options))
        #expect(key == .rfc3261(branch: "z9hG4bKk1", sentBy: "198.51.100.7:5062", method: .options))

        var otherSentBy = options
        otherSentBy.headers.replace("Via", with: "SIP/2.0/UDP 198.51.100.8:5062;branch=z9hG4bKk1")
        #expect(ServerTransactionKey(request: otherSentBy) != key)

        let sameBranchOtherMethod = request("MESSAGE", branch: "z9hG4bKk1")
        #expect(ServerTransactionKey(request: sameBranchOtherMethod) != key)
    }

    @Test func ackMatchesTheInviteAndCancelFindsIt() throws {
        let invite = try #require(ServerTransactionKey(request: request("INVITE", branch: "z9hG4bKk2")))
        let ack = try #require(ServerTransactionKey(request: request("ACK", branch: "z9hG4bKk2", toTag: "t")))
        #expect(ack == invite)
        let cancel = try #require(ServerTransactionKey(request: request("CANCEL", branch: "z9hG4bKk2")))
        #expect(cancel != invite)
        #expect(cancel.matchingInvite == invite)
    }

    @Test func rfc2543FallbackUsesDialogAndViaFields() throws {
        let invite = request("INVITE", branch: "oldstyle")
        let key = try #require(ServerTransactionKey(request: invite))
        #expect(key.isRFC2543)
        // received/rport added by our transport do not change the key
        var withReceived = invite
        withReceived.headers.replace("Via", with: "SIP/2.0/UDP 198.51.100.7:5062;branch=oldstyle;received=198.51.100.7;rport=5062")
        #expect(ServerTransactionKey(request: withReceived) == key)
        // another Call-ID, From tag, CSeq number or Request-URI is another transaction
        var otherCallID = invite
        otherCallID.headers.replace("Call-ID", with: "different@client.example")
        #expect(ServerTransactionKey(request: otherCallID) != key)
        var otherFrom = invite
        otherFrom.headers.replace("From", with: "<sip:alice@client.example>;tag=other")
        #expect(ServerTransactionKey(request: otherFrom) != key)
        #expect(ServerTransactionKey(request: request("INVITE", branch: "oldstyle", cseq: 2)) != key)
        #expect(ServerTransactionKey(request: request("INVITE", uri: "sip:carol@server.example", branch: "oldstyle")) != key)
        // the ACK and the CANCEL find it
        #expect(ServerTransactionKey(request: request("ACK", branch: "oldstyle", toTag: "x")) == key)
        #expect(ServerTransactionKey(request: request("CANCEL", branch: "oldstyle"))?.matchingInvite == key)
    }

    @Test func requestWithoutViaHasNoKey() {
        var bare = request("OPTIONS")
        bare.headers.removeAll("Via")
        #expect(ServerTransactionKey(request: bare) == nil)
    }

    @Test func clientKeyIsBranchAndCSeqMethod() throws {
        let invite = request("INVITE", branch: "z9hG4bKc9")
        let key = try #require(ClientTransactionKey(response: SIPResponse(responding: invite, statusCode: 180)))
        #expect(key == ClientTransactionKey(branch: "z9hG4bKc9", method: .invite))
        let cancel = request("CANCEL", branch: "z9hG4bKc9")
        #expect(ClientTransactionKey(response: SIPResponse(responding: cancel, statusCode: 200)) != key)
    }

    @Test func generatedBranchesCarryTheMagicCookieAndDiffer() {
        let branches = Set((0..<1000).map { _ in MessageBuilding.newBranch() })
        #expect(branches.count == 1000)
        #expect(branches.allSatisfy { $0.hasPrefix("z9hG4bK") && $0.count == 23 })
    }
}
