import SIPCore

/// The last resort of `SIPSalvage`: an answer to a request that does not parse even without
/// its Content-Length (a SIP-Version of SIP/7.0, a CSeq method unlike the request's, a From
/// display name with a comma, a CSeq number over 2^32-1: RFC 4475 §3.1.2). RFC 3261 §8.2.6
/// needs only Via, From, To, Call-ID and CSeq copied into a response, and §8.1.3.1 lets the
/// client match it by them, so those five are copied as they came, without parsing them.
extension SIPSalvage {
    /// Most bytes one copied header value may have, and the answer as a whole: the answer
    /// stays smaller than what a sender must send to get it.
    static let maxRawValue = 1024
    static let maxRawAnswer = 4096

    /// The bytes of a `status` response to the request in `bytes` (its header section, up to
    /// the first empty line, within `limits.maxMessageSize`), or nil when it is not a
    /// request, is an ACK (never answered, §17.1.1.3), lacks one of the five headers, or
    /// carries control characters or oversized values in them. The caller sends it back
    /// where the bytes came from (the packet's source, the same connection): a Via nobody
    /// could parse is not followed.
    static func rawAnswer(status: Int, fromHeaderSection bytes: UnsafeRawBufferPointer, limits: SIPParseLimits) -> [UInt8]? {
        guard let end = headerSectionEnd(bytes, limits: limits) else { return nil }
        let lines = unfoldedLines(UnsafeRawBufferPointer(rebasing: bytes[..<end]))
        guard let startLine = lines.first, !startsWith(startLine, "ACK ") else { return nil }
        var vias: [ArraySlice<UInt8>] = []
        var single: [String: ArraySlice<UInt8>] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: 0x3A) else { continue }
            guard let name = canonicalName(line[line.startIndex..<colon]) else { continue }
            let value = trimmed(line[(colon + 1)...])
            guard !value.isEmpty, value.count <= maxRawValue, !value.contains(where: isControl) else { return nil }
            if name == "Via" {
                vias.append(value)
            } else if single[name] == nil {
                single[name] = value
            }
        }
        guard !vias.isEmpty, let from = single["From"], let to = single["To"], let callID = single["Call-ID"],
              let cseq = single["CSeq"] else { return nil }
        // An ACK by its CSeq (a start line that did not parse may still be one).
        if cseq.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 }).last.map({ Array($0) == Array("ACK".utf8) }) ?? false {
            return nil
        }
        var out = Array("SIP/2.0 \(status) \(SIPStatus.reasonPhrase(for: status))\r\n".utf8)
        func header(_ name: String, _ value: ArraySlice<UInt8>, _ extra: String = "") {
            out.append(contentsOf: Array("\(name): ".utf8))
            out.append(contentsOf: value)
            out.append(contentsOf: Array("\(extra)\r\n".utf8))
        }
        for via in vias { header("Via", via) }
        header("From", from)
        // §8.2.6.2: a tag for a To without one.
        let hasTag = String(decoding: to, as: UTF8.self).lowercased().contains(";tag=")
        header("To", to, hasTag ? "" : ";tag=\(lowercaseHex(KernelRandom.next(), digits: 16))")
        header("Call-ID", callID)
        header("CSeq", cseq)
        out.append(contentsOf: Array("Content-Length: 0\r\n\r\n".utf8))
        return out.count <= maxRawAnswer ? out : nil
    }

    /// The header section's lines without their line ends, continuation lines (§7.3.1)
    /// joined to the line they continue.
    private static func unfoldedLines(_ bytes: UnsafeRawBufferPointer) -> [[UInt8]] {
        var lines: [[UInt8]] = []
        var start = 0
        while start < bytes.count {
            var stop = start
            while stop < bytes.count, bytes[stop] != 10 { stop += 1 }
            var line = Array(UnsafeRawBufferPointer(rebasing: bytes[start..<stop]))
            if line.last == 13 { line.removeLast() }
            if !lines.isEmpty, line.first == 0x20 || line.first == 0x09 {
                lines[lines.count - 1].append(0x20)
                lines[lines.count - 1].append(contentsOf: trimmed(line[...]))
            } else if !line.isEmpty {
                lines.append(line)
            }
            start = stop + 1
        }
        return lines
    }

    /// The name a kept header goes out under (long or compact form in, RFC 3261 §7.3.3), or
    /// nil for a header the answer does not need.
    private static func canonicalName(_ raw: ArraySlice<UInt8>) -> String? {
        guard raw.count <= 32 else { return nil }  // never a String made of a garbage line
        return switch String(decoding: trimmed(raw), as: UTF8.self).lowercased() {
        case "via", "v": "Via"
        case "from", "f": "From"
        case "to", "t": "To"
        case "call-id", "i": "Call-ID"
        case "cseq": "CSeq"
        default: nil
        }
    }

    private static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var s = bytes
        while let first = s.first, first == 0x20 || first == 0x09 { s.removeFirst() }
        while let last = s.last, last == 0x20 || last == 0x09 { s.removeLast() }
        return s
    }

    private static func isControl(_ byte: UInt8) -> Bool { (byte < 0x20 && byte != 0x09) || byte == 0x7F }

    private static func startsWith(_ line: [UInt8], _ prefix: String) -> Bool {
        line.starts(with: prefix.utf8)
    }
}
