import Crypto
import Foundation
import Logging
import Roles
import SIPCore
import Store
import X509

#if canImport(Glibc)
import Glibc
#endif

/// One CA and a certificate per server name (SAN dNSName), written as PEM files: the PKI of
/// a test mesh, made in-process.
struct MeshPKI {
    let directory: URL
    let caKey: Certificate.PrivateKey
    let caName: DistinguishedName
    let ca: Certificate

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("mesh-pki-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        caKey = Certificate.PrivateKey(P256.Signing.PrivateKey())
        caName = try DistinguishedName { CommonName("Mesh Test CA") }
        ca = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: caKey.publicKey,
            notValidBefore: Date().addingTimeInterval(-3600), notValidAfter: Date().addingTimeInterval(86400),
            issuer: caName, subject: caName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: caKey)
        try ca.serializeAsPEM().pemString.write(to: caFile, atomically: true, encoding: .utf8)
    }

    var caFile: URL { directory.appendingPathComponent("ca.pem") }

    /// Issues a server-and-client certificate for `name`; returns (cert, key) file paths.
    func issue(_ name: String) throws -> (cert: String, key: String) {
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let leaf = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: key.publicKey,
            notValidBefore: Date().addingTimeInterval(-3600), notValidAfter: Date().addingTimeInterval(86400),
            issuer: caName, subject: try DistinguishedName { CommonName(name) }, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
                SubjectAlternativeNames([.dnsName(name)])
            },
            issuerPrivateKey: caKey)
        let cert = directory.appendingPathComponent("\(name).pem")
        let keyFile = directory.appendingPathComponent("\(name).key")
        try leaf.serializeAsPEM().pemString.write(to: cert, atomically: true, encoding: .utf8)
        try key.serializeAsPEM().pemString.write(to: keyFile, atomically: true, encoding: .utf8)
        return (cert.path, keyFile.path)
    }
}

/// One server of a test mesh: a RoleServer with a role's policy, UDP for users on an
/// ephemeral port, TLS for peers on `tlsPort`.
struct MeshServer {
    let name: String
    let server: RoleServer
    let task: Task<Void, any Error>
    var udpPort: Int { server.port(.udp) ?? 0 }

    /// Users: (name, password, home server name) in domain example.com, the same list on
    /// every server (the directory's third column).
    static let users: [(String, String, String)] = [
        ("alice", "pw-alice", "hs1.example.test"), ("bob", "pw-bob", "hs2.example.test"),
        ("carol", "pw-carol", "hs1.example.test"), ("dave", "pw-dave", "hs3.example.test"),
        ("erin", "pw-erin", "hs1.example.test"),
    ]

    /// - Parameter homes: this server's directory differs for these users (a stale copy).
    /// - Parameter settings: more `key = value` settings (`federate`).
    /// - Parameter prepare: writes more to the store before the server opens it (contact lists).
    static func start(_ name: String, tlsPort: Int, pki: MeshPKI, peers: [String: Int], homes: [String: String] = [:],
                      domain: String = "example.com", users: [(String, String, String)] = users,
                      settings more: [(key: String, value: String)] = [],
                      prepare: ((SQLiteStore) async throws -> Void)? = nil,
                      policy: @escaping PolicyFactory) async throws -> MeshServer {
        let dir = try RunningHomeServer.temporaryDirectory()
        let store = try SQLiteStore(directory: dir)
        for (user, password, home) in users {
            var record = TestUsers.record(user: user, domain: domain, password: password)
            record.homeServer = homes[user] ?? home
            try await store.addUser(record)
        }
        try await prepare?(store)
        try store.close()
        let files = try pki.issue(name)
        var settings = ServerSettings(serverName: name)
        var entries: [(key: String, value: String)] = [
            ("data", dir), ("domain", domain), ("listen", "udp:127.0.0.1:0"), ("listen", "mtls:127.0.0.1:\(tlsPort)"),
            ("tls-cert", files.cert), ("tls-key", files.key), ("tls-ca", pki.caFile.path),
        ]
        for (peer, port) in peers.sorted(by: { $0.key < $1.key }) { entries.append(("peer", "\(peer)=tls:127.0.0.1:\(port)")) }
        entries += more
        try settings.apply(entries)
        var logger = Logger(label: "test.\(name)")
        logger.logLevel = ProcessInfo.processInfo.environment["MESH_DEBUG"] == nil ? .warning : .debug
        let server = try await RoleServer.start(settings: settings, logger: logger, drainTimeout: .milliseconds(300),
                                                policy: policy)
        let task = Task { try await server.run() }
        return MeshServer(name: name, server: server, task: task)
    }

    func stop() async {
        server.stop()
        _ = try? await task.value
    }
}

extension TestUA {
    /// Sends `make(authorization)` to `port`; answers one 401/407 challenge with digest.
    func sendAuthenticated(to port: Int, user: String, password: String, method: String, uri: String,
                           _ make: (_ cseq: Int, _ authorization: String?) -> String) async throws -> SIPResponse? {
        try await send(make(1, nil), to: port)
        guard let first = await response() else { return nil }
        guard first.statusCode == 401 || first.statusCode == 407 else { return first }
        let header = first.statusCode == 401 ? "WWW-Authenticate" : "Proxy-Authenticate"
        let challenge = TestDigest.challenge(in: first, header: header, algorithm: "MD5") ?? ""
        let credentials = TestDigest.authorization(challenge: challenge, user: user, password: password,
                                                   method: method, uri: uri)
        try await send(make(2, credentials), to: port)
        return await response()
    }
}
