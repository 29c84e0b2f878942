import PresenceDocuments

/// RFC 5438 Instant Message Disposition Notification: the names it uses and its
/// `message/imdn+xml` document, written and read with PresenceDocuments' XML.
enum IMDN {
    /// RFC 5438 §10.1: the CPIM header namespace, declared `NS: imdn <urn:ietf:params:imdn>`.
    static let cpimNamespace = "urn:ietf:params:imdn"
    /// RFC 5438 §8: the XML namespace of the document.
    static let xmlNamespace = "urn:ietf:params:xml:ns:imdn"
    static let contentType = "message/imdn+xml"
    static let cpimContentType = "message/cpim"

    /// The `imdn` XML document of RFC 5438 §7.2.1.1 (delivery notification).
    struct Document: Hashable, Sendable {
        /// The `imdn.Message-ID` of the message this notification is about.
        var messageID: String
        /// The `DateTime` of that message.
        var dateTime: String?
        var recipientURI: String?
        var originalRecipientURI: String?
        /// The child of `delivery-notification/status`: `delivered`, `failed`, `forbidden`, `error`.
        var status: String

        var element: XML.Element {
            let ns = IMDN.xmlNamespace
            var children: [XML.Node] = [.element(XML.Element(namespace: ns, name: "message-id", text: messageID))]
            if let dateTime { children.append(.element(XML.Element(namespace: ns, name: "datetime", text: dateTime))) }
            if let recipientURI { children.append(.element(XML.Element(namespace: ns, name: "recipient-uri", text: recipientURI))) }
            if let originalRecipientURI {
                children.append(.element(XML.Element(namespace: ns, name: "original-recipient-uri", text: originalRecipientURI)))
            }
            let status = XML.Element(namespace: ns, name: "status", children: [.element(XML.Element(namespace: ns, name: self.status))])
            children.append(.element(XML.Element(namespace: ns, name: "delivery-notification", children: [.element(status)])))
            return XML.Element(namespace: ns, name: "imdn", children: children)
        }

        func serialized() -> [UInt8] { XML.serialize(element) }

        /// Parses an `imdn` document carrying a delivery notification; nil otherwise.
        static func parse(_ body: [UInt8]) -> Document? {
            guard let root = try? XML.parse(body), root.isNamed("imdn", in: IMDN.xmlNamespace) else { return nil }
            let ns = IMDN.xmlNamespace
            func text(_ name: String) -> String? { root.firstElement(name, in: ns)?.trimmedText }
            guard let messageID = text("message-id"),
                  let status = root.firstElement("delivery-notification", in: ns)?.firstElement("status", in: ns)?
                      .elements.first?.name
            else { return nil }
            return Document(messageID: messageID, dateTime: text("datetime"), recipientURI: text("recipient-uri"),
                            originalRecipientURI: text("original-recipient-uri"), status: status)
        }
    }
}
