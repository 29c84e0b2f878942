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
        /// Go on processing; `loopHash` is the request's §16.6 step 8 loop hash.
        case valid(loopHash: String)
        /// OPTIONS with Max-Forwards 0: the proxy answers it as its final recipient (§11).
        case answerOptionsLocally
        /// Refuse the request with this status.
        case reject(StatusAnswer)
    }

    /// Header fields that must appear exactly once (RFC 3261 §8.1.1, §16.3 step 1). Via
    /// must appear at least once; Max-Forwards at most once.
    static let singletons = ["To", "From", "Call-ID", "CSeq"]

    /// URI schemes this proxy can route (§16.3 step 2; others get 416).
    public static let understoodSchemes: Set<String> = ["sip", "sips"]

    /// Validates `request` (§16.3 steps 1-5). Step 6 (Proxy-Authorization) belongs to the
    /// policy's authentication step.
    public static func validate(_ request: SIPRequest, identity: ProxyIdentity) -> Outcome {
        // Step 1: reasonable syntax — mandatory header fields present and not duplicated.
        let h = request.headers
        for name in singletons {
            let count = fieldCount(h, name)
            if count == 0 { return .reject(StatusAnswer(400, "Missing \(name)")) }
            if count > 1 { return .reject(StatusAnswer(400, "Duplicate \(name)")) }
        }
        if fieldCount(h, "Via") == 0 { return .reject(StatusAnswer(400, "Missing Via")) }
        let maxForwardsFields = h["Max-Forwards"]
        if maxForwardsFields.count > 1 { return .reject(StatusAnswer(400, "Duplicate Max-Forwards")) }
        var maxForwards: Int?
        if let raw = maxForwardsFields.first {
            guard let value = Int(raw.trimmingWhitespace), value >= 0, value <= 255 else {
                return .reject(StatusAnswer(400, "Bad Max-Forwards"))
            }
            maxForwards = value
        }
        guard let cseqValue = h.first("CSeq"), let cseq = parseCSeq(cseqValue),
              cseq.method == request.method.rawValue else {
            return .reject(StatusAnswer(400, "Bad CSeq"))
        }
        _ = cseq

        // Step 2: URI scheme.
        guard understoodSchemes.contains(request.uri.scheme.lowercased()) else {
            return .reject(StatusAnswer(416))
        }

        // Step 3: Max-Forwards.
        if maxForwards == 0 {
            if request.method == .options { return .answerOptionsLocally }
            return .reject(StatusAnswer(483))
        }

        // Step 4: loop detection.
        let hash = BranchParameter.loopHash(of: request)
        for via in viaValues(h) where identity.isOwnAddress(host: via.host, port: via.port) {
            if let branch = via.branch, let seen = BranchParameter.loopHash(inBranch: branch), seen == hash {
                return .reject(StatusAnswer(482))
            }
        }

        // Step 5: Proxy-Require.
        let required = h["Proxy-Require"].map { $0.trimmingWhitespace }.filter { !$0.isEmpty }
        let unsupported = required.filter { !identity.supportedProxyRequire.contains($0.lowercased()) }
        if !unsupported.isEmpty {
            return .reject(StatusAnswer(420, headers: [SIPHeaderField(name: "Unsupported", value: unsupported.joined(separator: ", "))]))
        }
        return .valid(loopHash: hash)
    }

    /// The number of header *fields* named `name` (compact forms included), not of values:
    /// a To display name may hold a comma.
    static func fieldCount(_ headers: SIPHeaders, _ name: String) -> Int {
        let compact = compactForm[name]
        var n = 0
        for field in headers where field.name.equalsIgnoringCase(name) || (compact.map { field.name.equalsIgnoringCase($0) } ?? false) {
            n += 1
        }
        return n
    }

    static let compactForm: [String: String] = ["To": "t", "From": "f", "Call-ID": "i", "Via": "v", "Contact": "m"]

    /// Vias of `headers`, skipping values that do not parse.
    static func viaValues(_ headers: SIPHeaders) -> [Via] {
        headers["Via"].compactMap { Via($0) }
    }

    static func parseCSeq(_ value: String) -> (number: UInt32, method: String)? {
        let parts = value.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard parts.count == 2, let n = UInt32(parts[0]) else { return nil }
        return (n, String(parts[1]))
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
