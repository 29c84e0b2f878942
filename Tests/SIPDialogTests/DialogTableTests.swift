import SIPCore
import Testing
@testable import SIPDialog

@Suite struct DialogTableTests {
    struct Subscription: Sendable, Equatable {
        var event: String
        var notifies = 0
    }

    func dialog(_ n: Int) -> Dialog {
        Dialog(id: DialogID(callID: "call\(n)", localTag: "l\(n)", remoteTag: "r\(n)"),
               localURI: NameAddr(uri: URI("sip:alice@home.example")!), remoteURI: NameAddr(uri: URI("sip:bob@client.example")!),
               localSeq: 100, remoteSeq: 1, remoteTarget: URI("sip:bob@198.51.100.7")!, routeSet: [], secure: false)
    }

    @Test func insertUpdateRemove() throws {
        let table = DialogTable<Subscription>()
        let d = dialog(1)
        try table.insert(d, usage: Subscription(event: "presence"))
        #expect(table.count == 1)
        let seq = table.withDialog(d.id) { dialog, usage -> UInt32 in
            usage.notifies += 1
            return try! dialog.makeRequest(.notify).cseq!.sequence
        }
        #expect(seq == 101)
        #expect(table.get(d.id)?.dialog.localSeq == 101)
        #expect(table.get(d.id)?.usage == Subscription(event: "presence", notifies: 1))
        #expect(table.remove(d.id)?.usage.notifies == 1)
        #expect(table.count == 0)
        #expect(table.remove(d.id) == nil)
    }

    /// RFC 3261 §12.2.2: an unknown dialog gives nil (the caller answers 481).
    @Test func unknownDialogIsNil() {
        let table = DialogTable<Subscription>()
        let ran = table.withDialog(dialog(9).id) { _, _ in true }
        #expect(ran == nil)
    }

    /// Every table has a cap: over it, 503.
    @Test func capIs503() throws {
        let table = DialogTable<Int>(maxDialogs: 2)
        try table.insert(dialog(1), usage: 1)
        try table.insert(dialog(2), usage: 2)
        let error = #expect(throws: DialogError.self) { try table.insert(dialog(3), usage: 3) }
        #expect(error?.status == 503)
        #expect(error?.code == .tableFull)
        #expect(table.count == 2)
        table.remove(dialog(1).id)
        try table.insert(dialog(3), usage: 3)
    }

    @Test func duplicateIs500() throws {
        let table = DialogTable<Int>()
        try table.insert(dialog(1), usage: 1)
        let error = #expect(throws: DialogError.self) { try table.insert(dialog(1), usage: 2) }
        #expect(error?.code == .duplicateDialog)
        #expect(table.get(dialog(1).id)?.usage == 1)
    }

    /// Local tag = To tag, remote tag = From tag; nil without a To tag.
    @Test func idOfIncomingRequest() throws {
        let id = DialogTable<Int>.id(ofIncoming: inDialog("NOTIFY", cseq: 3))
        #expect(id == DialogID(callID: "sub1@client.example", localTag: "ourtag", remoteTag: "bobtag"))
        #expect(DialogTable<Int>.id(ofIncoming: subscribe()) == nil)
    }

    /// The path of a notifier: SUBSCRIBE creates, a refresh is checked under the lock,
    /// an out-of-order one rejected.
    @Test func requestsInOrderUnderTheLock() throws {
        let table = DialogTable<Subscription>()
        let d = try Dialog.uas(request: subscribe(), localTag: "ourtag")
        try table.insert(d, usage: Subscription(event: "presence"))
        let refresh = inDialog("SUBSCRIBE", cseq: 8)
        let id = try #require(DialogTable<Subscription>.id(ofIncoming: refresh))
        let first = table.withDialog(id) { dialog, _ in dialog.receive(refresh) }
        let again = table.withDialog(id) { dialog, _ in dialog.receive(refresh) }
        #expect(first == .accept)
        #expect(again == .reject(status: 500, reason: "Server Internal Error"))
        #expect(table.get(id)?.dialog.remoteSeq == 8)
    }
}
