import Presence
import Store
import Testing

/// The SOAP bodies of LCS 2003 SERVICE requests, as pidgin-sipe writes them, and the
/// documents the roaming agent answers with.
@Suite("SOAP operations")
struct SOAPOperationTests {
    static func envelope(_ operation: String, _ arguments: String, extra: String = "") -> [UInt8] {
        Array("""
            <SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body>\
            <m:\(operation) xmlns:m="http://schemas.microsoft.com/winrtc/2002/11/sip">\(arguments)</m:\(operation)>\(extra)\
            </SOAP-ENV:Body></SOAP-ENV:Envelope>
            """.utf8)
    }

    @Test func parsesSipeOperations() throws {
        #expect(try SOAPOperation.parse(Self.envelope("setContact", """
            <m:displayName>Bob</m:displayName><m:groups>1 3</m:groups><m:subscribed>true</m:subscribed>\
            <m:URI>sip:bob@Example.COM</m:URI><m:externalURI /><m:deltaNum>7</m:deltaNum>
            """)) == .contacts(.setContact(RoamingContact(uri: "bob@example.com", name: "Bob", groups: [1, 3]))))
        #expect(try SOAPOperation.parse(Self.envelope("deleteContact", "<m:URI>sip:bob@example.com</m:URI><m:deltaNum>8</m:deltaNum>"))
            == .contacts(.deleteContact(uri: "bob@example.com")))
        #expect(try SOAPOperation.parse(Self.envelope("addGroup", "<m:name>Work &amp; Play</m:name><m:externalURI /><m:deltaNum>1</m:deltaNum>"))
            == .contacts(.addGroup(name: "Work & Play")))
        #expect(try SOAPOperation.parse(Self.envelope("modifyGroup", "<m:groupID>2</m:groupID><m:name>Pals</m:name><m:externalURI /><m:deltaNum>1</m:deltaNum>"))
            == .contacts(.modifyGroup(id: 2, name: "Pals")))
        #expect(try SOAPOperation.parse(Self.envelope("deleteGroup", "<m:groupID>2</m:groupID><m:deltaNum>1</m:deltaNum>"))
            == .contacts(.deleteGroup(id: 2)))
        #expect(try SOAPOperation.parse(Self.envelope("setACE", "<m:type>USER</m:type><m:mask>sip:carol@example.org</m:mask><m:rights>AA</m:rights><m:deltaNum>1</m:deltaNum>"))
            == .setACE(watcher: "carol@example.org", rule: .allow))
        #expect(try SOAPOperation.parse(Self.envelope("setACE", "<m:type>USER</m:type><m:mask>sip:carol@example.org</m:mask><m:rights>BD</m:rights><m:deltaNum>1</m:deltaNum>"))
            == .setACE(watcher: "carol@example.org", rule: .block))
    }

    @Test func parsesADirectorySearch() throws {
        let body = Self.envelope("directorySearch", ##"<m:filter m:href="#searchArray"/><m:maxResults>500</m:maxResults>"##,
                                 extra: #"<m:Array xmlns:m="http://schemas.microsoft.com/winrtc/2002/11/sip" m:id="searchArray"><m:row m:attrib="givenName" m:value="Ada"/><m:row m:attrib="mail" m:value="ada@"/></m:Array>"#)
        guard case .directorySearch(let query) = try SOAPOperation.parse(body) else {
            Issue.record("not a search")
            return
        }
        #expect(query.givenName == "Ada")
        #expect(query.email == "ada@")
        #expect(query.limit == SOAPOperation.maxSearchResults)
    }

    @Test(arguments: [
        ("", 400),
        ("<notSOAP/>", 400),
        ("<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\"><SOAP-ENV:Body></SOAP-ENV:Body></SOAP-ENV:Envelope>", 400),
        ("<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://schemas.xmlsoap.org/soap/envelope/\"><SOAP-ENV:Body><m:setContact xmlns:m=\"http://schemas.microsoft.com/winrtc/2002/11/sip\"><m:URI>sip:bob@example.com</m:URI>", 400),
        ("<!DOCTYPE x [<!ENTITY a \"b\">]><x/>", 400),
    ])
    func refusesMalformedBodies(text: String, status: Int) {
        #expect(throws: RoamingError.self) { try SOAPOperation.parse(Array(text.utf8)) }
        do { _ = try SOAPOperation.parse(Array(text.utf8)) } catch { #expect(error.status == status) }
    }

    @Test func refusesBadArguments() {
        func status(_ operation: String, _ arguments: String) -> Int? {
            do { _ = try SOAPOperation.parse(Self.envelope(operation, arguments)); return nil } catch { return error.status }
        }
        #expect(status("setContact", "<m:displayName>x</m:displayName>") == 400)  // no URI
        #expect(status("setContact", "<m:URI>not an address</m:URI>") == 400)
        #expect(status("setContact", "<m:URI>sip:a@b.c</m:URI><m:groups>x</m:groups>") == 400)
        #expect(status("setContact", "<m:URI>sip:a@b.c</m:URI><m:subscribed>maybe</m:subscribed>") == 400)
        #expect(status("modifyGroup", "<m:groupID>-1</m:groupID><m:name>x</m:name>") == 400)
        #expect(status("setACE", "<m:type>DOMAIN</m:type><m:mask>example.com</m:mask><m:rights>AA</m:rights>") == 400)
        #expect(status("setACE", "<m:type>USER</m:type><m:mask>sip:a@b.c</m:mask><m:rights>XX</m:rights>") == 400)
        #expect(status("setPresence", "<m:presentity/>") == 400)  // no uri, no availability
        #expect(status("setDelegate", "<m:x/>") == 501)
        #expect(throws: RoamingError.self) {
            try SOAPOperation.parse(Array(repeating: UInt8(ascii: " "), count: SOAPOperation.maxBodyBytes + 1))
        }
    }

    @Test func documentsAreWhatPidginAndSipeRead() throws {
        let list = ContactList(user: "alice@example.com", deltaNum: 4, groups: [ContactGroup(id: 1, name: "Friends")],
                               contacts: [RoamingContact(uri: "bob@example.com", name: "Bob <B>", groups: [1])])
        let text = String(decoding: RoamingDocuments.contactList(list), as: UTF8.self)
        #expect(text.contains(#"<contactList deltaNum="4"><group id="1" name="Friends"/>"#))
        #expect(text.contains(#"<contact uri="bob@example.com" name="Bob &lt;B&gt;" groups="1" subscribed="true"/>"#))
        let parsed = try XML.parse(RoamingDocuments.contactList(list))
        #expect(parsed.name == "contactList" && parsed.namespace == nil)

        let answer = try XML.parse(RoamingDocuments.contactsAnswer("addGroup", update: ContactListUpdate(list: list, addedGroupID: 1)))
        let body = try #require(answer.firstElement("Body", in: SOAPOperation.envelopeNamespace))
        let addGroup = try #require(body.firstElement("addGroup", in: SOAPOperation.namespace))
        #expect(addGroup.firstElement("groupID", in: SOAPOperation.namespace)?.text == "1")

        let search = String(decoding: RoamingDocuments.searchAnswer(
            [DirectoryEntry(aor: "ada@example.com", displayName: "Ada", title: "Countess")], more: true), as: UTF8.self)
        #expect(search.contains(#"uri="sip:ada@example.com""#))
        #expect(search.contains(#"title="Countess""#))
        #expect(search.contains("<m:moreAvailable>true</m:moreAvailable>"))

        let acl = String(decoding: RoamingDocuments.acl([AccessEntry(user: "alice@example.com", watcher: "carol@example.org",
                                                                     rule: .block)], deltaNum: 3), as: UTF8.self)
        #expect(acl.contains(#"<ace type="USER" mask="sip:carol@example.org" rights="BD"/>"#))
    }
}
