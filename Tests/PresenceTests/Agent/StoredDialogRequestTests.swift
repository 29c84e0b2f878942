import SIPCore
import SIPDialog
import Testing
@testable import Presence

/// A NOTIFY built from a subscription's stored dialog text must be, byte for byte, the one
/// `Dialog.makeRequest` builds from the parsed dialog (RFC 3261 §12.2.1.1), or watchers would
/// see different From/To/CSeq depending on which path a NOTIFY took.
@Suite("Requests built from a stored dialog")
struct StoredDialogRequestTests {
    static func subscribe(from: String, to: String, contact: String, recordRoute: String? = nil) throws -> SIPRequest {
        var text = """
            SUBSCRIBE sip:bob@example.com SIP/2.0\r
            Via: SIP/2.0/TCP 192.0.2.7:5090;branch=z9hG4bK-stored-1\r
            Max-Forwards: 70\r
            From: \(from)\r
            To: \(to)\r
            Call-ID: a84b4c76e66710@pc33.example.com\r
            CSeq: 7 SUBSCRIBE\r
            Contact: \(contact)\r
            Event: presence\r

            """
        if let recordRoute { text += "Record-Route: \(recordRoute)\r\n" }
        text += "Content-Length: 0\r\n\r\n"
        return try #require(try SIPParser.parseDatagram(Array(text.utf8)).request)
    }

    static let extra = [
        SIPHeaderField(name: "Event", value: "presence;id=7"),
        SIPHeaderField(name: "Subscription-State", value: "active;expires=3599"),
        SIPHeaderField(name: "Contact", value: "<sip:127.0.0.1:5060;transport=tcp>"),
        SIPHeaderField(name: "Content-Type", value: "application/pidf+xml"),
    ]

    @Test(arguments: [
        ("<sip:alice@example.com>;tag=a1", "<sip:bob@example.com>", "<sip:alice@192.0.2.7:5090;transport=tcp>"),
        ("\"Alice Smith\" <sip:alice@example.com;user=phone>;tag=x;foo=bar", "Bob <sips:bob@example.com:5061>",
         "<sip:alice@[2001:db8::7]:5090;transport=tcp;ob>"),
        ("sip:alice@example.com;tag=plain", "sip:bob@example.com;lr-like=1", "sip:alice@192.0.2.7"),
    ])
    func fastPathMatchesTheDialogsOwnRequest(_ from: String, _ to: String, _ contact: String) throws {
        let request = try Self.subscribe(from: from, to: to, contact: contact)
        var dialog = try Dialog.uas(request: request, localTag: "b0b5tag")
        var stored = StoredDialog(dialog)
        let body = Array("<presence/>".utf8)
        for _ in 0..<3 {
            let expected = dialog.makeRequest(.notify, headers: Self.extra, body: body)
            let target = try #require(URI(stored.remoteTarget))
            let made = stored.makeRequestWithoutRoutes(.notify, target: target, headers: Self.extra, body: body)
            let built = try #require(made)
            #expect(String(decoding: built.serialized(), as: UTF8.self) == String(decoding: expected.serialized(), as: UTF8.self))
            #expect(stored.localSeq == dialog.localSeq)
            #expect(built.to?.tag == dialog.id.remoteTag)
            #expect(built.from?.tag == "b0b5tag")
        }
    }

    @Test func aDialogWithARouteSetTakesTheParsedPath() throws {
        let request = try Self.subscribe(from: "<sip:alice@example.com>;tag=a1", to: "<sip:bob@example.com>",
                                         contact: "<sip:alice@192.0.2.7:5090>", recordRoute: "<sip:edge.example.com;lr>")
        let dialog = try Dialog.uas(request: request, localTag: "b0b5tag")
        var stored = StoredDialog(dialog)
        let seq = stored.localSeq
        let target = try #require(URI(stored.remoteTarget))
        let made = stored.makeRequestWithoutRoutes(.notify, target: target, headers: [], body: [])
        #expect(made == nil)
        #expect(stored.localSeq == seq)  // no number taken
    }
}
