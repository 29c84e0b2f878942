@testable import Presence
import Store
import Testing

/// pidgin-sipe's `setPresence` (captured from the running plugin) and `contactDelta`.
@Suite("setPresence and contactDelta")
struct SetPresenceTests {
    /// sipe 1.25's body when the user picks "Away", byte for byte but the times.
    static func sipeSetPresence(availability: Int, activity: Int) -> [UInt8] {
        Array("""
            <s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://schemas.microsoft.com/winrtc/2002/11/sip"><s:Body><m:setPresence><m:presentity xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" m:uri="sip:alice@example.com"><m:availability m:aggregate="\(availability)"/><m:activity m:aggregate="\(activity)"/><deviceName xmlns="http://schemas.microsoft.com/2002/09/sip/presence" name="VM"/><rtc:devicedata xmlns:rtc="http://schemas.microsoft.com/winrtc/2002/11/sip" namespace="rtcService"><![CDATA[<caps><renders_gif/><renders_isf/></caps>]]></rtc:devicedata><userInfo xmlns="http://schemas.microsoft.com/2002/09/sip/presence"></userInfo><device xmlns="http://schemas.microsoft.com/2002/09/sip/presence" deviceId="cf0b98dadeb9" since="2026-11-30T04:44:51Z" ><userInput since="2026-11-30T04:44:51Z" >active</userInput></device></m:presentity></m:setPresence></s:Body></s:Envelope>
            """.utf8)
    }

    @Test(arguments: [(300, 400, LCSState.online), (300, 100, .away), (300, 300, .beRightBack), (300, 600, .busy),
                      (0, 100, .appearOffline), (300, 150, .outToLunch), (300, 500, .onThePhone)])
    func parsesSipeSetPresence(availability: Int, activity: Int, state: LCSState) throws {
        guard case .setPresence(let presence) = try SOAPOperation.parse(Self.sipeSetPresence(availability: availability, activity: activity))
        else {
            Issue.record("not a setPresence")
            return
        }
        #expect(presence.presentity == "alice@example.com")
        #expect(presence.availability == availability)
        #expect(presence.activity == activity)
        #expect(presence.device == "cf0b98dadeb9")
        #expect(presence.state == state)
    }

    @Test func refusesAMalformedSetPresence() {
        let noAvailability = SOAPOperationTests.envelope("setPresence", #"<m:presentity m:uri="sip:alice@example.com"><m:activity m:aggregate="100"/></m:presentity>"#)
        #expect(throws: RoamingError(400, "setPresence without availability")) { try SOAPOperation.parse(noAvailability) }
        let badNumber = SOAPOperationTests.envelope("setPresence", #"<m:presentity m:uri="sip:alice@example.com"><m:availability m:aggregate="lots"/></m:presentity>"#)
        #expect(throws: RoamingError.self) { try SOAPOperation.parse(badNumber) }
        let noURI = SOAPOperationTests.envelope("setPresence", #"<m:presentity><m:availability m:aggregate="300"/></m:presentity>"#)
        #expect(throws: RoamingError(400, "setPresence presentity without uri")) { try SOAPOperation.parse(noURI) }
    }

    @Test func contactDeltaListsWhatChanged() {
        let old = ContactList(user: "alice@example.com", deltaNum: 4,
                              groups: [ContactGroup(id: 1, name: "Friends"), ContactGroup(id: 2, name: "Work")],
                              contacts: [RoamingContact(uri: "bob@example.com", name: "Bob", groups: [1]),
                                         RoamingContact(uri: "dave@example.com", name: "Dave", groups: [2])])
        let new = ContactList(user: "alice@example.com", deltaNum: 7,
                              groups: [ContactGroup(id: 1, name: "Family"), ContactGroup(id: 3, name: "Club")],
                              contacts: [RoamingContact(uri: "bob@example.com", name: "Bobby", groups: [1]),
                                         RoamingContact(uri: "carol@example.com", name: "Carol", groups: [3])])
        let text = String(decoding: ContactDelta.document(from: old, to: new), as: UTF8.self)
        #expect(text.contains(#"<contactDelta deltaNum="7" prevDeltaNum="4">"#))
        #expect(text.contains(#"<modifiedGroup id="1" name="Family"/>"#))
        #expect(text.contains(#"<addedGroup id="3" name="Club"/>"#))
        #expect(text.contains(#"<deletedGroup id="2"/>"#))
        #expect(text.contains(#"<modifiedContact uri="bob@example.com" name="Bobby" groups="1" subscribed="true"/>"#))
        #expect(text.contains(#"<addedContact uri="carol@example.com" name="Carol" groups="3" subscribed="true"/>"#))
        #expect(text.contains(#"<deletedContact uri="dave@example.com"/>"#))
        #expect(ContactDelta.clientDeltaNum(SOAPOperationTests.envelope("addGroup", "<m:name>X</m:name><m:deltaNum>12</m:deltaNum>")) == 12)
        #expect(ContactDelta.clientDeltaNum(SOAPOperationTests.envelope("addGroup", "<m:name>X</m:name>")) == nil)
    }
}
