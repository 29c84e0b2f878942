import SIPCore

/// A status a proxy answers with instead of forwarding (RFC 3261 §16.3, §16.5, §21), plus
/// the header fields that explain it (Unsupported, Retry-After, Contact for 3xx...).
public struct StatusAnswer: Hashable, Sendable {
    public var status: Int
    public var reason: String?
    public var headers: [SIPHeaderField]

    public init(_ status: Int, _ reason: String? = nil, headers: [SIPHeaderField] = []) {
        self.status = status
        self.reason = reason
        self.headers = headers
    }

    /// The response to `request` this answer stands for (RFC 3261 §8.2.6). A final
    /// non-100 response gets `toTag` when the request's To has none.
    public func response(to request: SIPRequest, toTag: String?) -> SIPResponse {
        var response = SIPResponse(responding: request, statusCode: status, reasonPhrase: reason,
                                   toTag: status == 100 ? nil : toTag)
        for field in headers { response.headers.append(field.name, field.value) }
        return response
    }
}

/// RFC 3261 §16.3 request validation, in the order the RFC gives.
public enum RequestValidation {
    /// What validation concluded.
    public enum Outcome: Hashable, Sendable {
        /// Go on processing; `loopHash` is the request's §16.6 step 8 loop hash when
        /// validation needed it (nil: computed later if the request is forwarded).
        case valid(loopHash: String?)
        /// OPTIONS with Max-Forwards 0: the proxy answers it as its final recipient (§11).
        case answerOptionsLocally
        /// Refuse the request with this status.
        case reject(StatusAnswer)
    }

    /// URI schemes this proxy can route (§16.3 step 2; others get 416).
    public static let understoodSchemes: Set<String> = ["sip", "sips"]

    /// Validates `request` (§16.3 steps 1-5). Step 6 (Proxy-Authorization) belongs to the
    /// policy's authentication step. One pass over the header fields (their names are
    /// canonical in `SIPHeaders`); the loop hash is computed only when a second Via could be
    /// one of ours.
    public static func validate(_ request: SIPRequest, identity: ProxyIdentity) -> Outcome {
        // Step 1: reasonable syntax — mandatory header fields present and not duplicated.
        var to = 0, from = 0, callID = 0, cseqCount = 0, viaFields = 0, maxForwardsCount = 0
        var cseqValue: String?, maxForwardsValue: String?, viaMayBeMultiple = false
        var proxyRequire: [String] = []
        let headers = request.headers
        for index in headers.indices {
            switch headers.name(at: index) {
            case "Via":
                viaFields += 1
                if viaFields > 1 || headers.value(at: index, contains: UInt8(ascii: ",")) { viaMayBeMultiple = true }
            case "To": to += 1
            case "From": from += 1
            case "Call-ID": callID += 1
            case "CSeq":
                cseqCount += 1
                cseqValue = headers.value(at: index)
            case "Max-Forwards":
                maxForwardsCount += 1
                maxForwardsValue = headers.value(at: index)
            case "Proxy-Require": proxyRequire.append(headers.value(at: index))
            default: break
            }
        }
        if to != 1 || from != 1 || callID != 1 || cseqCount != 1 {
            for (name, count) in [("To", to), ("From", from), ("Call-ID", callID), ("CSeq", cseqCount)] where count != 1 {
                return .reject(StatusAnswer(400, count == 0 ? "Missing \(name)" : "Duplicate \(name)"))
            }
        }
        if viaFields == 0 { return .reject(StatusAnswer(400, "Missing Via")) }
        if maxForwardsCount > 1 { return .reject(StatusAnswer(400, "Duplicate Max-Forwards")) }
        var maxForwards: Int?
        if let raw = maxForwardsValue {
            guard let value = Int(raw.trimmingWhitespace), value >= 0, value <= 255 else {
                return .reject(StatusAnswer(400, "Bad Max-Forwards"))
            }
            maxForwards = value
        }
        guard let cseqValue, cseqMethodMatches(cseqValue, request.method.rawValue) else {
            return .reject(StatusAnswer(400, "Bad CSeq"))
        }

        // Step 2: URI scheme.
        guard understoodSchemes.contains(request.uri.scheme.lowercased()) else {
            return .reject(StatusAnswer(416))
        }

        // Step 3: Max-Forwards.
        if maxForwards == 0 {
            if request.method == .options { return .answerOptionsLocally }
            return .reject(StatusAnswer(483))
        }

        // Step 4: loop detection. A request straight from a UA has one Via: nothing of ours.
        var hash: String?
        if viaMayBeMultiple {
            let current = BranchParameter.loopHash(of: request)
            hash = current
            for via in viaValues(request.headers) where identity.isOwnAddress(host: via.host, port: via.port) {
                if let branch = via.branch, let seen = BranchParameter.loopHash(inBranch: branch), seen == current {
                    return .reject(StatusAnswer(482))
                }
            }
        }

        // Step 5: Proxy-Require.
        if !proxyRequire.isEmpty {
            let required = proxyRequire.flatMap { $0.split(separator: ",") }.map { $0.trimmingWhitespace }.filter { !$0.isEmpty }
            let unsupported = required.filter { !identity.supportedProxyRequire.contains($0.lowercased()) }
            if !unsupported.isEmpty {
                return .reject(StatusAnswer(420, headers: [SIPHeaderField(name: "Unsupported", value: unsupported.joined(separator: ", "))]))
            }
        }
        return .valid(loopHash: hash)
    }

    /// `CSeq: 1 INVITE`: a decimal sequence number (at most 2**31-1, §8.1.1.5) and the
    /// request's method.
    static func cseqMethodMatches(_ value: String, _ method: String) -> Bool {
        var utf8 = Substring(value).utf8[...]
        var digits = 0
        var number: UInt64 = 0
        while let c = utf8.first, c >= 0x30, c <= 0x39 {
            number = number &* 10 &+ UInt64(c - 0x30)
            digits += 1
            utf8 = utf8.dropFirst()
        }
        guard digits > 0, digits <= 10, number <= 0x7FFF_FFFF else { return false }
        guard let space = utf8.first, space == 0x20 || space == 0x09 else { return false }
        while let c = utf8.first, c == 0x20 || c == 0x09 { utf8 = utf8.dropFirst() }
        while let c = utf8.last, c == 0x20 || c == 0x09 { utf8 = utf8.dropLast() }
        return utf8.elementsEqual(method.utf8)
    }

    /// Vias of `headers`, skipping values that do not parse.
    static func viaValues(_ headers: SIPHeaders) -> [Via] {
        headers["Via"].compactMap { Via($0) }
    }

}

extension StringProtocol {
    /// ASCII case-insensitive equality (header names, hosts, tokens).
    func equalsIgnoringCase(_ other: some StringProtocol) -> Bool {
        let a = utf8, b = other.utf8
        guard a.count == b.count else { return false }
        for (x, y) in zip(a, b) where x != y {
            let lx = (x >= 65 && x <= 90) ? x | 0x20 : x
            let ly = (y >= 65 && y <= 90) ? y | 0x20 : y
            if lx != ly { return false }
        }
        return true
    }

    var trimmingWhitespace: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}
