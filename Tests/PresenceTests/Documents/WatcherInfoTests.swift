import Testing
@testable import Presence

/// RFC 3858 watcher information, and the content types with Accept matching.
@Suite("Watcher info and content types")
struct WatcherInfoTests {
    static let document = WatcherInfoDocument(
        version: 3, state: .partial,
        watcherList: WatcherList(resource: "sip:alice@example.org", watchers: [
            Watcher(id: "w1", uri: "sip:bob@example.org", status: .pending, event: .subscribe,
                    displayName: #"Bob "the builder" <B&Q>"#, expiration: 3600),
            Watcher(id: "w2", uri: "sip:carol@example.org", status: .terminated, event: .rejected, durationSubscribed: 12),
        ]))

    @Test func serializes() {
        #expect(String(decoding: Self.document.serialized(), as: UTF8.self) == """
            <?xml version="1.0" encoding="UTF-8"?>
            <watcherinfo xmlns="urn:ietf:params:xml:ns:watcherinfo" version="3" state="partial">\
            <watcher-list resource="sip:alice@example.org" package="presence">\
            <watcher id="w1" status="pending" event="subscribe" display-name="Bob &quot;the builder&quot; &lt;B&amp;Q&gt;" \
            expiration="3600">sip:bob@example.org</watcher>\
            <watcher id="w2" status="terminated" event="rejected" duration-subscribed="12">sip:carol@example.org</watcher>\
            </watcher-list></watcherinfo>
            """)
    }

    @Test func roundTrips() throws {
        #expect(try WatcherInfoDocument.parse(Self.document.serialized()) == Self.document)
        let empty = WatcherInfoDocument(version: 0, state: .full, watcherList: WatcherList(resource: "sip:a@b"))
        #expect(try WatcherInfoDocument.parse(empty.serialized()) == empty)
    }

    @Test func parsesRFC3858Example() throws {
        let document = try WatcherInfoDocument.parse(DocumentFixtures.bytes("winfo/rfc3858-example.xml"))
        #expect(document.version == 0 && document.state == .full)
        #expect(document.watcherList.resource == "sip:professor@example.net")
        #expect(document.watcherList.package == "presence")
        #expect(document.watcherList.watchers == [
            Watcher(id: "8ajksjda7s", uri: "sip:userA@example.net", status: .active, event: .approved, durationSubscribed: 509),
            Watcher(id: "hh8juja87s997-ass7", uri: "sip:userB@example.org", status: .pending, event: .subscribe,
                    displayName: "Mr. Subscriber"),
        ])
    }

    @Test(arguments: [
        (#"<watcherinfo xmlns="urn:ietf:params:xml:ns:pidf" version="0" state="full"/>"#, PresenceDocumentError.Code.wrongRoot),
        (#"<watcherinfo xmlns="urn:ietf:params:xml:ns:watcherinfo" state="full"/>"#, .missingAttribute),
        (#"<watcherinfo xmlns="urn:ietf:params:xml:ns:watcherinfo" version="-1" state="full"/>"#, .missingAttribute),
        (#"<watcherinfo xmlns="urn:ietf:params:xml:ns:watcherinfo" version="0" state="some"/>"#, .invalidValue),
        (#"<watcherinfo xmlns="urn:ietf:params:xml:ns:watcherinfo" version="0" state="full"/>"#, .missingElement),
        (#"<watcherinfo xmlns="urn:ietf:params:xml:ns:watcherinfo" version="0" state="full"><watcher-list resource="r" package="presence"><watcher id="w" status="happy" event="subscribe">sip:a@b</watcher></watcher-list></watcherinfo>"#, .invalidValue),
        (#"<watcherinfo xmlns="urn:ietf:params:xml:ns:watcherinfo" version="0" state="full"><watcher-list resource="r" package="presence"><watcher id="w" status="active" event="approved" expiration="soon">sip:a@b</watcher></watcher-list></watcherinfo>"#, .invalidValue),
        (#"<watcherinfo xmlns="urn:ietf:params:xml:ns:watcherinfo" version="0" state="full"><watcher-list resource="r" package="presence"><watcher status="active" event="approved">sip:a@b</watcher></watcher-list></watcherinfo>"#, .missingAttribute),
        (#"<watcherinfo xmlns="urn:ietf:params:xml:ns:watcherinfo" version="0" state="full"><watcher-list package="presence"/></watcherinfo>"#, .missingAttribute),
    ] as [(String, PresenceDocumentError.Code)])
    func rejected(_ body: String, _ code: PresenceDocumentError.Code) {
        let error = #expect(throws: PresenceDocumentError.self) { try WatcherInfoDocument.parse(Array(body.utf8)) }
        #expect(error?.code == code, "\(error?.reason ?? "")")
    }

    @Test func contentTypes() {
        #expect(PresenceContentType.pidf == "application/pidf+xml")
        #expect(PresenceContentType.watcherInfo == "application/watcherinfo+xml")
    }

    @Test(arguments: [
        ([], PresenceContentType.pidf, true),  // no Accept: the package default
        ([], PresenceContentType.watcherInfo, true),
        ([], "application/xpidf+xml", false),
        ([""], PresenceContentType.pidf, false),  // an empty Accept accepts nothing
        (["application/pidf+xml"], PresenceContentType.pidf, true),
        (["Application/PIDF+XML;q=0.5"], PresenceContentType.pidf, true),
        (["application/xpidf+xml, application/pidf+xml"], PresenceContentType.pidf, true),
        (["application/xpidf+xml", "application/pidf+xml"], PresenceContentType.pidf, true),
        (["application/xpidf+xml"], PresenceContentType.pidf, false),
        (["*/*"], PresenceContentType.pidf, true),
        (["application/*"], PresenceContentType.watcherInfo, true),
        (["text/*"], PresenceContentType.pidf, false),
        (["application/*, application/pidf+xml;q=0"], PresenceContentType.pidf, false),
        (["application/pidf+xml, application/rlmi+xml, multipart/related"], PresenceContentType.pidf, true),
        (["application/pidf+xml"], "application/pidf+xml; charset=UTF-8", true),
    ] as [([String], String, Bool)])
    func accepts(_ values: [String], _ type: String, _ expected: Bool) {
        #expect(PresenceContentType.accepts(values, type) == expected)
    }
}
