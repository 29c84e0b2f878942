import Presence
import Testing

/// RFC 4662 NOTIFY bodies as liblinphone reads them.
@Suite("Resource list documents")
struct ResourceListDocumentTests {
    @Test func rlmiFirstAndContentIdsMatchTheCids() throws {
        let pidf = Array(#"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:bob@example.com"/>"#.utf8)
        let notification = ResourceListNotification(
            listURI: "sip:alice+contacts@example.com", version: 3, fullState: true,
            members: [.init(uri: "sip:bob@example.com", name: "Bob", state: .active(pidf)),
                      .init(uri: "sip:carol@example.com", name: "", state: .pending),
                      .init(uri: "sip:dave@example.org", name: "", state: .unknown)],
            idPrefix: "abc")
        // An unquoted boundary: belle-sip takes the parameter's value verbatim.
        #expect(notification.contentType
            == #"multipart/related;type="application/rlmi+xml";start="<abc.3.list@rls>";boundary=rlmi-abc-3"#)
        let body = String(decoding: notification.body(), as: UTF8.self)
        let parts = body.components(separatedBy: "--rlmi-abc-3")
        #expect(parts.count == 4)  // preamble, RLMI, one PIDF, closing "--"
        #expect(parts[1].contains("Content-Id: abc.3.list@rls\r\nContent-Type: application/rlmi+xml"))
        #expect(parts[2].contains("Content-Id: abc.3.0@rls\r\nContent-Type: application/pidf+xml"))
        #expect(parts[3].hasPrefix("--"))

        let rlmi = try XML.parse(notification.rlmi())
        #expect(rlmi.isNamed("list", in: ResourceListNotification.rlmiNamespace))
        #expect(rlmi.attribute("version") == "3" && rlmi.attribute("fullState") == "true")
        let resources = rlmi.elements("resource", in: ResourceListNotification.rlmiNamespace)
        #expect(resources.map { $0.attribute("uri") } == ["sip:bob@example.com", "sip:carol@example.com", "sip:dave@example.org"])
        let bob = try #require(resources[0].firstElement("instance", in: ResourceListNotification.rlmiNamespace))
        #expect(bob.attribute("state") == "active" && bob.attribute("cid") == "abc.3.0@rls")
        let carol = try #require(resources[1].firstElement("instance", in: ResourceListNotification.rlmiNamespace))
        #expect(carol.attribute("state") == "pending" && carol.attribute("cid") == nil)
        #expect(resources[2].firstElement("instance", in: ResourceListNotification.rlmiNamespace) == nil)
    }
}
