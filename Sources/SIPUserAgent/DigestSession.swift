import SIPCore
import SIPDigest
import Synchronization

/// The UAC side of digest authentication (RFC 3261 §22.2, RFC 7616, RFC 8760) for one
/// account: answers 401/407 challenges with ``SIPDigest/DigestClient``, preferring the first
/// challenge of an algorithm it knows (the server lists SHA-256 first when it prefers it,
/// RFC 8760 §2.4), and keeps the last challenge of each kind so the next request carries
/// credentials at once with the nonce count incremented (`nc`, RFC 7616 §3.4) instead of
/// being challenged again.
final class DigestSession: Sendable {
    struct Cached {
        var challenge: String
        var nonceCount: UInt32
    }

    let username: String
    let password: String
    /// 401 → the last WWW-Authenticate, 407 → the last Proxy-Authenticate we answered.
    private let cache = Mutex<[Int: Cached]>([:])

    init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    /// REGISTER is challenged by the registrar (401), anything else by the proxy (407),
    /// RFC 3261 §22.2/§22.3.
    static func kind(of request: SIPRequest) -> Int { request.method == .register ? 401 : 407 }
    static func credentialsHeader(_ kind: Int) -> String { kind == 401 ? "Authorization" : "Proxy-Authorization" }
    static func challengeHeader(_ kind: Int) -> String { kind == 401 ? "WWW-Authenticate" : "Proxy-Authenticate" }

    /// Adds credentials from the cached challenge with the next nonce count; false when no
    /// challenge is cached for the request's kind.
    @discardableResult
    func authorizePreemptively(_ request: inout SIPRequest) -> Bool {
        let kind = Self.kind(of: request)
        let next = cache.withLock { cache -> Cached? in
            guard var entry = cache[kind] else { return nil }
            entry.nonceCount &+= 1
            cache[kind] = entry
            return entry
        }
        guard let next, let value = answer(next.challenge, request: request, nonceCount: next.nonceCount) else { return false }
        request.headers.removeAll(Self.credentialsHeader(kind))
        request.headers.append(Self.credentialsHeader(kind), value)
        return true
    }

    /// Answers the challenge in `response` (401 or 407) on `request`: replaces its
    /// credentials and caches the challenge (nonce count 1). False when there is no digest
    /// challenge we can answer.
    func answer(_ response: SIPResponse, on request: inout SIPRequest) -> Bool {
        let kind = response.statusCode
        guard kind == 401 || kind == 407 else { return false }
        for challenge in response.headers[Self.challengeHeader(kind)] {
            guard let value = answer(challenge, request: request, nonceCount: 1) else { continue }
            cache.withLock { $0[kind] = Cached(challenge: challenge, nonceCount: 1) }
            request.headers.removeAll(Self.credentialsHeader(kind))
            request.headers.append(Self.credentialsHeader(kind), value)
            return true
        }
        return false
    }

    private func answer(_ challenge: String, request: SIPRequest, nonceCount: UInt32) -> String? {
        DigestClient.answer(challenge: challenge, username: username, password: password, method: request.method.rawValue,
                            uri: request.uri.description, nonceCount: nonceCount)
    }
}

extension UserAgentStack {
    /// Sends `request` (no Via: the layer adds it) through the proxy, answering one digest
    /// challenge (a second after credentials sent from the cache, whose nonce may have gone
    /// stale): the retry is the same request with the CSeq number one higher and fresh
    /// credentials (RFC 3261 §22.2, §8.1.3.5). `completion` gets the request as last sent (its
    /// CSeq is what an in-dialog caller must continue from) and the final response.
    func send(_ request: SIPRequest, digest: DigestSession,
              completion: @escaping @Sendable (Result<(request: SIPRequest, response: SIPResponse), SIPUserAgentError>) -> Void) {
        var first = request
        let preemptive = digest.authorizePreemptively(&first)
        attempt(first, digest: digest, answersLeft: preemptive ? 2 : 1, completion: completion)
    }

    private func attempt(_ request: SIPRequest, digest: DigestSession, answersLeft: Int,
                         completion: @escaping @Sendable (Result<(request: SIPRequest, response: SIPResponse), SIPUserAgentError>) -> Void) {
        transact(request) { result in
            switch result {
            case .success(let response) where (response.statusCode == 401 || response.statusCode == 407) && answersLeft > 0:
                var retry = request
                guard digest.answer(response, on: &retry) else {
                    completion(.success((request, response)))
                    return
                }
                let cseq = ((try? request.cseq)?.sequence ?? 1) &+ 1
                retry.headers.replace("CSeq", with: "\(cseq) \(request.method.rawValue)")
                self.attempt(retry, digest: digest, answersLeft: answersLeft - 1, completion: completion)
            case .success(let response):
                completion(.success((request, response)))
            case .failure(let error):
                completion(.failure(error))
            }
        }
    }

    /// ``send(_:digest:completion:)`` for async callers.
    func send(_ request: SIPRequest, digest: DigestSession) async throws(SIPUserAgentError)
        -> (request: SIPRequest, response: SIPResponse)
    {
        typealias Outcome = Result<(request: SIPRequest, response: SIPResponse), SIPUserAgentError>
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
            send(request, digest: digest) { continuation.resume(returning: $0) }
        }
        return try result.get()
    }
}
