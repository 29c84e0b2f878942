/// `setPresence` ([MS-PRES] legacy presence, as LCS 2003/2005 clients send it in a SERVICE
/// to themselves). pidgin-sipe 1.25 writes (captured from the running client):
///
/// ```xml
/// <s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
///             xmlns:m="http://schemas.microsoft.com/winrtc/2002/11/sip"><s:Body>
///   <m:setPresence>
///     <m:presentity xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" m:uri="sip:alice@example.com">
///       <m:availability m:aggregate="300"/><m:activity m:aggregate="100"/>
///       <deviceName xmlns="http://schemas.microsoft.com/2002/09/sip/presence" name="VM"/>
///       <rtc:devicedata xmlns:rtc="..." namespace="rtcService"><![CDATA[<caps>...</caps>]]></rtc:devicedata>
///       <userInfo xmlns="http://schemas.microsoft.com/2002/09/sip/presence"></userInfo>
///       <device xmlns="http://schemas.microsoft.com/2002/09/sip/presence" deviceId="cf0b98dadeb9" since="...">
///         <userInput since="...">active</userInput></device>
///     </m:presentity>
///   </m:setPresence>
/// </s:Body></s:Envelope>
/// ```
///
/// Seen from sipe: available 300/400, away 300/100, be right back 300/300, do not disturb
/// 300/600, appear offline 0/100 (availability/activity aggregates).
public struct ServicePresence: Hashable, Sendable {
    /// `m:uri` of the presentity (normalized `user@domain`): must be the caller.
    public var presentity: String
    /// The availability aggregate: under 100 is offline (appear offline).
    public var availability: Int
    /// The activity aggregate, when given.
    public var activity: Int?
    /// The device that set it (`device/@deviceId`, sipe's epid), if named.
    public var device: String?

    public init(presentity: String, availability: Int, activity: Int? = nil, device: String? = nil) {
        self.presentity = presentity
        self.availability = availability
        self.activity = activity
        self.device = device
    }

    /// The LCS state these aggregates stand for ([MS-PRES] legacy activity ranges):
    /// 100-149 away, 150-199 out to lunch, 200-299 away (idle), 300-399 be right back,
    /// 400-499 online, 500-599 on the phone, 600-699 busy (busy / do not disturb), from 700
    /// away (the "away" ranges of later clients); an availability under 100 is appear offline.
    public var state: LCSState {
        if availability < 100 { return .appearOffline }
        switch activity ?? 400 {
        case ..<150: return .away
        case 150..<200: return .outToLunch
        case 200..<300: return .away
        case 300..<400: return .beRightBack
        case 400..<500: return .online
        case 500..<600: return .onThePhone
        case 600..<700: return .busy
        default: return .away
        }
    }
}

extension SOAPOperation {
    /// The presence namespace of `device` and `deviceName` in setPresence.
    static let legacyPresenceNamespace = "http://schemas.microsoft.com/2002/09/sip/presence"

    static func setPresence(_ operation: XML.Element) throws(RoamingError) -> ServicePresence {
        guard let presentity = operation.firstElement("presentity", in: namespace) ?? operation.firstElement("presentity", in: nil)
        else { throw RoamingError(400, "setPresence without presentity") }
        guard let uri = presentity.attribute("uri", namespace: namespace) ?? presentity.attribute("uri") else {
            throw RoamingError(400, "setPresence presentity without uri")
        }
        let availability = try aggregate(presentity, "availability")
        guard let availability else { throw RoamingError(400, "setPresence without availability") }
        let activity = try aggregate(presentity, "activity")
        let device = (presentity.firstElement("device", in: legacyPresenceNamespace) ?? presentity.firstElement("device", in: nil))
            .flatMap { $0.attribute("deviceId") }.map(XML.trimmed).flatMap { $0.isEmpty ? nil : $0 }
        if let device, device.utf8.count > 128 { throw RoamingError(400, "setPresence deviceId too long") }
        return ServicePresence(presentity: try aor(uri, "presentity uri"), availability: availability,
                               activity: activity, device: device)
    }

    /// `<m:NAME m:aggregate="N"/>`'s number (0...999), nil when the element is absent.
    static func aggregate(_ presentity: XML.Element, _ name: String) throws(RoamingError) -> Int? {
        guard let element = presentity.firstElement(name, in: namespace) ?? presentity.firstElement(name, in: nil) else {
            return nil
        }
        guard let text = element.attribute("aggregate", namespace: namespace) ?? element.attribute("aggregate"),
              let value = Int(XML.trimmed(text)), (0...999).contains(value) else {
            throw RoamingError(400, "setPresence \(name) needs an aggregate from 0 to 999")
        }
        return value
    }
}
