import Crypto
import Foundation
import SIPCore
import Synchronization
import Testing
@testable import Registrar
@testable import Store

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let seconds: Mutex<Int64>
    init(_ start: Int64 = 1_800_000_000) { seconds = Mutex(start) }
    func advance(_ by: Int64) { seconds.withLock { $0 += by } }
    var storeClock: StoreClock { StoreClock { self.seconds.withLock { $0 } } }
    var now: Int64 { seconds.withLock { $0 } }
}

/// A registrar on a real SQLite file in a temp dir, with alice (pw "alice-pw"), bob (disabled)
/// and carol (pw "carol-pw") in example.com.
struct Harness {
    let dir: String
    let clock: ManualClock
    let store: SQLiteStore
    let directory: UserDirectory
    let location: LocationTable
    let registrar: Registrar
    let authenticator: DigestAuthenticator

    static let context = RegistrationContext(transport: "TCP", source: "192.0.2.10:5080", flow: "tcp#1")

    init(configure: (inout Registrar.Configuration) -> Void = { _ in }, storeConfiguration: SQLiteStore.Configuration? = nil,
         dir existing: String? = nil, clock: ManualClock = ManualClock(), extraUsers: Int = 0,
         configureAuth: (inout DigestAuthenticator.Configuration) -> Void = { _ in }) async throws {
        dir = existing ?? (NSTemporaryDirectory() as NSString).appendingPathComponent("registrartests-\(UUID().uuidString)")
        self.clock = clock
        if existing == nil {
            let seed = try SQLiteStore(directory: dir)
            for (name, password, enabled) in [("alice", "alice-pw", true), ("bob", "bob-pw", false), ("carol", "carol-pw", true)] {
                let ha1 = DigestHA1.compute(user: name, realm: "example.com", password: password)
                try await seed.addUser(UserRecord(aor: "\(name)@example.com", enabled: enabled, ha1MD5: ha1.md5, ha1SHA256: ha1.sha256))
            }
            try await seed.importUsers((0..<extraUsers).map { i in
                let ha1 = DigestHA1.compute(user: "user\(i)", realm: "example.com", password: "pw\(i)")
                return UserRecord(aor: "user\(i)@example.com", ha1MD5: ha1.md5, ha1SHA256: ha1.sha256)
            })
            try seed.close()
        }
        store = try SQLiteStore(directory: dir, configuration: storeConfiguration ?? SQLiteStore.Configuration())
        directory = try await UserDirectory.load(from: store)
        location = try await LocationTable.load(from: store, clock: clock.storeClock)
        var configuration = Registrar.Configuration(domains: ["example.com"])
        configure(&configuration)
        registrar = Registrar(location: location, directory: directory, configuration: configuration)
        var auth = DigestAuthenticator.Configuration(domains: ["example.com"])
        auth.nonceLifetime = 300
        configureAuth(&auth)
        authenticator = DigestAuthenticator(directory: directory, configuration: auth, clock: clock.storeClock)
    }

    func remove() { try? FileManager.default.removeItem(atPath: dir) }

    func register(_ request: SIPRequest, auth: Bool = false, source: String? = nil) async -> SIPResponse {
        await registrar.handle(request, context: Self.context, authenticator: auth ? authenticator : nil, source: source)
    }
}

/// Parses a request written with `\n` line ends (converted to CRLF) through SIPCore.
func parseRequest(_ text: String) throws -> SIPRequest {
    let wire = text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\n", with: "\r\n")
    guard case .request(let request) = try SIPParser.parseDatagram(Array(wire.utf8)) else {
        throw ParseFailure()
    }
    return request
}

struct ParseFailure: Error {}

/// A REGISTER for `user` at example.com; `headers` are added before Content-Length.
func registerRequest(_ user: String = "alice", callID: String = "call-1@192.0.2.10", cseq: Int = 1,
                     contacts: [String] = ["<sip:alice@192.0.2.10:5080;transport=tcp>"], expires: Int? = 3600,
                     headers: [String] = [], from: String? = nil, method: String = "REGISTER") throws -> SIPRequest {
    var lines = [
        "\(method) sip:example.com SIP/2.0",
        "Via: SIP/2.0/TCP 192.0.2.10:5080;branch=z9hG4bK-\(callID.hashValue & 0xffff)-\(cseq)",
        "Max-Forwards: 70",
        "From: <sip:\(from ?? user)@example.com>;tag=ft\(cseq)",
        "To: <sip:\(user)@example.com>",
        "Call-ID: \(callID)",
        "CSeq: \(cseq) \(method)",
    ]
    lines += contacts.map { "Contact: \($0)" }
    if let expires { lines.append("Expires: \(expires)") }
    lines += headers
    lines.append("Content-Length: 0")
    return try parseRequest(lines.joined(separator: "\n") + "\n\n")
}

/// The `expires` of each Contact of a response, by URI text.
func contactExpiries(_ response: SIPResponse) -> [String: Int] {
    var out: [String: Int] = [:]
    for contact in response.contacts {
        guard let nameAddr = contact.nameAddr else { continue }
        out[nameAddr.uri.description] = contact.expires
    }
    return out
}

// MARK: - Independent digest computation (swift-crypto, not the registrar's code)

func hexDigest(_ text: String, sha256: Bool) -> String {
    let bytes = Array(text.utf8)
    let digest: [UInt8] = sha256 ? Array(SHA256.hash(data: bytes)) : Array(Insecure.MD5.hash(data: bytes))
    return digest.map { String(format: "%02x", $0) }.joined()
}

/// RFC 7616 §3.4.1 response for qop=auth.
func digestResponse(user: String, realm: String, password: String, method: String, uri: String, nonce: String,
                    nc: String, cnonce: String, sha256: Bool) -> String {
    let ha1 = hexDigest("\(user):\(realm):\(password)", sha256: sha256)
    let ha2 = hexDigest("\(method):\(uri)", sha256: sha256)
    return hexDigest("\(ha1):\(nonce):\(nc):\(cnonce):auth:\(ha2)", sha256: sha256)
}

/// A parameter of a challenge header value (`nonce`, `realm`, `algorithm`, `stale`, `qop`).
func challengeParameter(_ header: String, _ name: String) -> String? {
    guard let range = header.range(of: "\(name)=") else { return nil }
    var rest = header[range.upperBound...]
    if rest.hasPrefix("\"") {
        rest = rest.dropFirst()
        return String(rest.prefix { $0 != "\"" })
    }
    return String(rest.prefix { $0 != "," && $0 != " " })
}

/// The Authorization header answering `challenge`.
func authorization(user: String = "alice", password: String, challenge: String, method: String = "REGISTER",
                   uri: String = "sip:example.com", nc: String = "00000001", cnonce: String = "0a4f113b",
                   header: String = "Authorization") -> String {
    let nonce = challengeParameter(challenge, "nonce")!
    let realm = challengeParameter(challenge, "realm")!
    let algorithm = challengeParameter(challenge, "algorithm")!
    let response = digestResponse(user: user, realm: realm, password: password, method: method, uri: uri, nonce: nonce,
                                  nc: nc, cnonce: cnonce, sha256: algorithm == "SHA-256")
    return "\(header): Digest username=\"\(user)\", realm=\"\(realm)\", nonce=\"\(nonce)\", uri=\"\(uri)\", "
        + "response=\"\(response)\", algorithm=\(algorithm), cnonce=\"\(cnonce)\", qop=auth, nc=\(nc)"
}

/// RFC 2617 §3.2.2.1 without qop (the RFC 2069 form): H(HA1 ":" nonce ":" HA2).
func rfc2069Response(user: String, realm: String, password: String, method: String, uri: String, nonce: String,
                     sha256: Bool = false) -> String {
    let ha1 = hexDigest("\(user):\(realm):\(password)", sha256: sha256)
    let ha2 = hexDigest("\(method):\(uri)", sha256: sha256)
    return hexDigest("\(ha1):\(nonce):\(ha2)", sha256: sha256)
}
