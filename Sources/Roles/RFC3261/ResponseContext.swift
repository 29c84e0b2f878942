import SIPCore

/// The response context of one proxied request (RFC 3261 §16.7): its branches (one client
/// transaction each), the responses they returned, and what has gone upstream. A pure state
/// machine: the proxy engine feeds it events and carries out the actions it returns.
///
/// Responses given to it have this proxy's Via already removed (§16.7 step 3).
public struct ResponseContext: Sendable {
    /// Something the engine must do.
    public enum Action: Hashable, Sendable {
        /// Send this response upstream (§16.7 step 9): through the server transaction, or
        /// statelessly for a later 2xx to INVITE once it has ended.
        case forward(SIPResponse)
        /// Send CANCEL on this branch's client transaction (§9.1, §16.10).
        case cancel(branch: Int)
        /// Restart timer C of this branch (§16.6 step 11, §16.7 step 2).
        case restartTimerC(branch: Int)
        /// Stop timer C of this branch: it has a final response.
        case stopTimerC(branch: Int)
        /// §16.7 step 4: a 3xx's contacts joined the target set; forward to each on its
        /// new branch.
        case redirect([RedirectBranch])
    }

    /// A new branch opened for a contact of a 3xx (§16.7 step 4).
    public struct RedirectBranch: Hashable, Sendable {
        public var index: Int
        /// The contact: a server URI (no user part) is where the request goes, its
        /// Request-URI unchanged; a URI with a user part becomes the Request-URI.
        public var contact: URI
    }

    /// One branch: a client transaction towards one target.
    public struct Branch: Hashable, Sendable {
        public var provisionalSeen = false
        public var cancelPending = false
        public var cancelSent = false
        public var final: SIPResponse?
        public var isComplete: Bool { final != nil }
    }

    /// The request as it arrived, for responses the proxy makes itself (408, 500).
    public let request: SIPRequest
    public private(set) var branches: [Branch] = []
    /// A final response went upstream.
    public private(set) var finalSent = false
    /// A 2xx (INVITE), 6xx or CANCEL ended the search: no new branches (§16.7 step 5).
    public private(set) var searchEnded = false
    let isInvite: Bool
    /// How many more 3xx responses may be recursed on (§16.7 step 4); 0: a 3xx is a final
    /// response like any other.
    public var redirectBudget = 0
    /// The most branches a recursion may open in all.
    public static let maxBranches = 16

    public init(request: SIPRequest) {
        self.request = request
        self.isInvite = request.method == .invite
    }

    /// Opens a branch and returns its index, or nil when no new branch may be created.
    public mutating func addBranch() -> Int? {
        guard !searchEnded, !finalSent else { return nil }
        branches.append(Branch())
        return branches.count - 1
    }

    /// All branches have a final response and a final response went upstream.
    public var isFinished: Bool { finalSent && branches.allSatisfy(\.isComplete) }

    /// A response received on `branch` (§16.7 steps 2-10).
    public mutating func receive(_ response: SIPResponse, on branch: Int) -> [Action] {
        guard branches.indices.contains(branch) else { return [] }
        let code = response.statusCode
        var actions: [Action] = []
        if code < 200 {
            guard !branches[branch].isComplete else { return [] }
            if code > 100 {
                branches[branch].provisionalSeen = true
                if isInvite { actions.append(.restartTimerC(branch: branch)) }
                if branches[branch].cancelPending, !branches[branch].cancelSent {
                    branches[branch].cancelSent = true
                    actions.append(.cancel(branch: branch))
                }
                // Provisional responses other than 100 go upstream at once (§16.7 step 5).
                if !finalSent { actions.append(.forward(response)) }
            }
            return actions
        }
        if branches[branch].isComplete {
            // A 2xx retransmission or a second 2xx on an INVITE branch still goes upstream.
            if isInvite, (200..<300).contains(code) { return [.forward(response)] }
            return []
        }
        branches[branch].final = response
        if isInvite { actions.append(.stopTimerC(branch: branch)) }
        if (200..<300).contains(code) {
            if isInvite {
                // Every 2xx to INVITE goes upstream; the other branches are cancelled.
                actions.append(.forward(response))
                finalSent = true
                actions += endSearch()
                return actions
            }
            if !finalSent {
                finalSent = true
                searchEnded = true
                actions.append(.forward(response))
                return actions
            }
            return actions
        }
        if (300..<400).contains(code), redirectBudget > 0, !searchEnded, !finalSent {
            let contacts = response.headers["Contact"].flatMap { $0.split(separator: ",") }
                .compactMap { NameAddr(String($0))?.uri }.filter { $0.sipURI != nil }
            var opened: [RedirectBranch] = []
            for contact in contacts where branches.count < Self.maxBranches {
                branches.append(Branch())
                opened.append(RedirectBranch(index: branches.count - 1, contact: contact))
            }
            if !opened.isEmpty {
                redirectBudget -= 1
                actions.append(.redirect(opened))
                return actions
            }
        }
        if code >= 600, isInvite { actions += endSearch() }
        if code >= 600 { searchEnded = true }
        actions += finishIfComplete()
        return actions
    }

    /// The branch's client transaction ended without a response: timeout (408) or a
    /// transport error (503), per §16.7 step 1 and §16.9.
    public mutating func branchFailed(_ branch: Int, status: Int) -> [Action] {
        guard branches.indices.contains(branch), !branches[branch].isComplete else { return [] }
        let synthesized = SIPResponse(responding: request, statusCode: status)
        var actions: [Action] = []
        if isInvite { actions.append(.stopTimerC(branch: branch)) }
        branches[branch].final = synthesized
        actions += finishIfComplete()
        return actions
    }

    /// Timer C fired on `branch` (§16.8): CANCEL it when it has seen a provisional response,
    /// else treat it as a 408 and end it.
    public mutating func timerCFired(on branch: Int) -> [Action] {
        guard branches.indices.contains(branch), !branches[branch].isComplete else { return [] }
        if branches[branch].provisionalSeen {
            guard !branches[branch].cancelSent else { return [] }
            branches[branch].cancelSent = true
            return [.cancel(branch: branch)]
        }
        return branchFailed(branch, status: 408)
    }

    /// A CANCEL for the request arrived (§16.10): cancel every pending branch.
    public mutating func cancelReceived() -> [Action] {
        endSearch()
    }

    /// Ends the search: pending branches are cancelled now (those with a provisional
    /// response) or when their first provisional response arrives (§9.1).
    mutating func endSearch() -> [Action] {
        searchEnded = true
        guard isInvite else { return [] }
        var actions: [Action] = []
        for i in branches.indices where !branches[i].isComplete && !branches[i].cancelSent {
            if branches[i].provisionalSeen {
                branches[i].cancelSent = true
                actions.append(.cancel(branch: i))
            } else {
                branches[i].cancelPending = true
            }
        }
        return actions
    }

    /// When every branch is complete and nothing final went upstream, the best response goes.
    mutating func finishIfComplete() -> [Action] {
        guard !finalSent, branches.allSatisfy(\.isComplete) else { return [] }
        finalSent = true
        return [.forward(Self.bestResponse(branches.compactMap(\.final), request: request))]
    }

    /// §16.7 step 6 best response: a 6xx if any, else one from the lowest class (preferring
    /// 401/407, then anything but 408); 503 becomes 500 (§16.7 step 6); 401/407 carry every
    /// branch's challenges (§16.7 step 7). No responses at all: 408.
    public static func bestResponse(_ responses: [SIPResponse], request: SIPRequest) -> SIPResponse {
        let finals = responses.filter { $0.statusCode >= 200 }
        guard !finals.isEmpty else { return SIPResponse(responding: request, statusCode: 408) }
        var chosen: SIPResponse
        if let six = finals.first(where: { $0.statusCode >= 600 }) {
            chosen = six
        } else {
            let lowest = finals.map { $0.statusCode / 100 }.min()!
            let inClass = finals.filter { $0.statusCode / 100 == lowest }
            chosen = inClass.first { $0.statusCode == 401 || $0.statusCode == 407 }
                ?? inClass.first { $0.statusCode != 408 }
                ?? inClass[0]
        }
        if chosen.statusCode == 503 {
            chosen.statusCode = 500
            chosen.reasonPhrase = SIPStatus.reasonPhrase(for: 500)
        }
        if chosen.statusCode == 401 || chosen.statusCode == 407 {
            // Raw fields, not comma-split values: a challenge holds commas.
            var seen = Set(chosen.headers.filter { Self.isChallenge($0.name) }.map(\.value))
            for other in finals where other != chosen && (other.statusCode == 401 || other.statusCode == 407) {
                for field in other.headers where Self.isChallenge(field.name) && !seen.contains(field.value) {
                    chosen.headers.append(field.name, field.value)
                    seen.insert(field.value)
                }
            }
        }
        return chosen
    }

    static func isChallenge(_ name: String) -> Bool {
        name.equalsIgnoringCase("WWW-Authenticate") || name.equalsIgnoringCase("Proxy-Authenticate")
    }
}
