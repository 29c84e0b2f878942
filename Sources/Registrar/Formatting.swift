import SIPCore
import SIPDigest

extension Registrar {
    /// A To tag for responses this registrar sends (RFC 3261 §8.2.6.2), derived from the
    /// request (FNV-1a of Call-ID, CSeq and top Via) so a retransmission gets the same tag.
    public static func localTag(for request: SIPRequest) -> String {
        // FNV-1a over what a retransmission repeats: Call-ID, CSeq and the top Via's branch
        // and sent-by, read from the parsed values (no header looked up by name).
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ text: String?) {
            for byte in (text ?? "").utf8 {
                hash ^= UInt64(byte)
                hash &*= 0x0000_0100_0000_01b3
            }
            hash ^= 0xff
        }
        let cseq = try? request.cseq
        let via = try? request.topVia
        mix(request.callID)
        mix(cseq.map { String($0.sequence) })
        mix(cseq?.method.rawValue)
        mix(via?.branch)
        mix(via?.host)
        mix(via?.port.map { String($0) })
        return lowercaseHex(hash, digits: 16)
    }

    /// q-value text (RFC 3261 §25.1 `qvalue`: "0" / "1" with up to three decimals).
    static func formatQ(_ thousandths: UInt16) -> String {
        if thousandths >= 1000 { return "1" }
        if thousandths == 0 { return "0" }
        var digits = String(thousandths)
        while digits.count < 3 { digits = "0" + digits }
        while digits.hasSuffix("0") { digits.removeLast() }
        return "0." + digits
    }

    private static let dayNames = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let monthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// RFC 1123 date in GMT (RFC 3261 §20.17 `SIP-date`), e.g. `Sat, 13 Nov 2010 23:29:00 GMT`.
    static func httpDate(_ seconds: Int64) -> String {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secs = seconds - days * 86_400
        // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        let weekday = Int((days % 7 + 11) % 7)  // 1970-01-01 was a Thursday
        let names = dayNames
        let months = monthNames
        func two(_ n: Int64) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(names[weekday]), \(two(day)) \(months[Int(month) - 1]) \(year) \(two(secs / 3600)):\(two(secs / 60 % 60)):\(two(secs % 60)) GMT"
    }
}

extension String {
    /// Without leading and trailing spaces and tabs.
    func trimmed() -> String {
        let u = utf8
        guard let start = u.firstIndex(where: { $0 != 0x20 && $0 != 0x09 }) else { return "" }
        let end = u.lastIndex(where: { $0 != 0x20 && $0 != 0x09 })!
        return String(self[start...end])
    }
}
