import Crypto
import Foundation
import Logging
import NIOCore
import NIOPosix
import Roles
import SIPCore
import Store

/// A home server on loopback (port 0 listeners) over a real SQLite file in a temp folder.
struct RunningHomeServer {
    let server: HomeServer
    let task: Task<Void, any Error>
    let dataDirectory: String
    let domain: String

    var udpPort: Int { server.port(.udp) ?? 0 }
    var tcpPort: Int { server.port(.tcp) ?? 0 }

    static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("home-server-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Provisions users (`name`, `password`, `enabled`) in the store in `dataDirectory`.
    static func provision(_ users: [(String, String, Bool)], domain: String, in dataDirectory: String) async throws {
        let store = try SQLiteStore(directory: dataDirectory)
        for (name, password, enabled) in users {
            try await store.addUser(TestUsers.record(user: name, domain: domain, password: password, enabled: enabled))
        }
        try store.close()
    }

    /// - Parameter digestAlgorithms: `--digest-algorithms` (nil: the default, MD5 alone).
    static func start(dataDirectory: String? = nil, domain: String = "example.com", auth: Bool = true,
                      users: [(String, String, Bool)] = [], digestAlgorithms: String? = nil) async throws -> RunningHomeServer {
        let dir = try dataDirectory ?? temporaryDirectory()
        if !users.isEmpty { try await provision(users, domain: domain, in: dir) }
        var settings = ServerSettings(serverName: "127.0.0.1")
        try settings.apply([("data", dir), ("domain", domain), ("listen", "udp:127.0.0.1:0"),
                            ("listen", "tcp:127.0.0.1:0"), ("auth", auth ? "on" : "off")])
        if let digestAlgorithms { try settings.apply([("digest-algorithms", digestAlgorithms)]) }
        var logger = Logger(label: "test.home-server")
        logger.logLevel = .warning
        let server = try await HomeServer.start(settings: settings, logger: logger, drainTimeout: .milliseconds(500))
        let task = Task { try await server.run() }
        return RunningHomeServer(server: server, task: task, dataDirectory: dir, domain: domain)
    }

    func stop() async throws {
        server.stop()
        try await task.value
    }
}

enum TestUsers {
    /// A directory record with both HA1s (RFC 3261 §22.4, RFC 8760); the realm is the domain.
    static func record(user: String, domain: String, password: String, enabled: Bool = true) -> UserRecord {
        let text = Array("\(user):\(domain):\(password)".utf8)
        return UserRecord(aor: "\(user)@\(domain)", enabled: enabled,
                          ha1MD5: Array(Insecure.MD5.hash(data: text)), ha1SHA256: Array(SHA256.hash(data: text)))
    }
}

/// Requests the test UAs send, as text.
enum SIPText {
    static func register(user: String, domain: String, uaPort: Int, cseq: Int, callID: String,
                         authorization: String? = nil, expires: Int = 3600) -> String {
        """
        REGISTER sip:\(domain) SIP/2.0
        Via: SIP/2.0/UDP 127.0.0.1:\(uaPort);branch=z9hG4bK-reg-\(callID)-\(cseq);rport
        Max-Forwards: 70
        From: <sip:\(user)@\(domain)>;tag=reg-\(user)
        To: <sip:\(user)@\(domain)>
        Call-ID: \(callID)
        CSeq: \(cseq) REGISTER
        Contact: <sip:\(user)@127.0.0.1:\(uaPort)>
        Expires: \(expires)
        \(authorization.map { "Authorization: \($0)\n" } ?? "")Content-Length: 0


        """
    }

    static func message(from: String, to: String, domain: String, uaPort: Int, cseq: Int, callID: String,
                        body: String, proxyAuthorization: String? = nil) -> String {
        """
        MESSAGE sip:\(to)@\(domain) SIP/2.0
        Via: SIP/2.0/UDP 127.0.0.1:\(uaPort);branch=z9hG4bK-msg-\(callID)-\(cseq);rport
        Max-Forwards: 70
        From: <sip:\(from)@\(domain)>;tag=msg-\(from)
        To: <sip:\(to)@\(domain)>
        Call-ID: \(callID)
        CSeq: \(cseq) MESSAGE
        Content-Type: text/plain
        \(proxyAuthorization.map { "Proxy-Authorization: \($0)\n" } ?? "")Content-Length: *

        \(body)
        """
    }
}

/// A UA that registers with digest authentication when challenged.
struct RegisteredUA {
    let ua: TestUA
    let user: String

    static func register(_ user: String, password: String, on server: RunningHomeServer,
                         group: any EventLoopGroup, algorithm: String = "MD5") async throws -> (TestUA, SIPResponse?) {
        try await register(user, password: password, domain: server.domain, serverPort: server.udpPort, group: group,
                           algorithm: algorithm)
    }

    /// The same, with any server listening on UDP `serverPort` for `domain`.
    static func register(_ user: String, password: String, domain: String, serverPort: Int,
                         group: any EventLoopGroup, algorithm: String = "MD5") async throws -> (TestUA, SIPResponse?) {
        let server = (domain: domain, udpPort: serverPort)
        let ua = try await TestUA(group: group)
        let callID = "reg-\(user)-\(UUID().uuidString)"
        try await ua.send(SIPText.register(user: user, domain: server.domain, uaPort: ua.port, cseq: 1, callID: callID),
                          to: server.udpPort)
        guard let first = await ua.response() else { return (ua, nil) }
        guard first.statusCode == 401 else { return (ua, first) }
        let challenge = TestDigest.challenge(in: first, header: "WWW-Authenticate", algorithm: algorithm)
        let authorization = TestDigest.authorization(challenge: challenge ?? "", user: user, password: password,
                                                     method: "REGISTER", uri: "sip:\(server.domain)")
        try await ua.send(SIPText.register(user: user, domain: server.domain, uaPort: ua.port, cseq: 2, callID: callID,
                                           authorization: authorization), to: server.udpPort)
        return (ua, await ua.response())
    }
}

extension TestDigest {
    /// The challenge for `algorithm` among the response's `header` fields.
    static func challenge(in response: SIPResponse, header: String, algorithm: String) -> String? {
        let all = response.headers.filter { $0.name.lowercased() == header.lowercased() }.map(\.value)
        return all.first { (parameters($0)["algorithm"] ?? "MD5").uppercased() == algorithm.uppercased() }
    }
}

let testEventLoops = MultiThreadedEventLoopGroup.singleton
