import Crypto
import Foundation
import NIOSSL
import SIPCore
import SIPTransaction
import SIPTransport
import X509

/// A running assembly on loopback, port 0 listeners, for the end-to-end tests.
struct RunningServer {
    let server: SIPServer
    let adapter: SIPTransportAdapter
    let listeners: [SIPListener]
    let task: Task<Void, any Error>

    func port(_ kind: SIPTransportKind) -> Int? { listeners.first { $0.spec.transport == kind }?.port }

    static func start(_ transports: [SIPTransportKind] = [.udp, .tcp], tls: SIPTLSSettings? = nil,
                      handlers: [SIPMethod: any SIPRequestHandler] = [:],
                      configuration: SIPServer.Configuration = .init()) async throws -> RunningServer {
        let layer = try SIPTransportLayer(configuration: SIPTransportConfiguration(tls: tls))
        let specs = transports.map { ListenSpec(transport: $0, host: "127.0.0.1", port: 0) }
        let adapter = SIPTransportAdapter(transportLayer: layer, listen: specs)
        let listeners = try await adapter.start()
        let server = SIPServer(transport: adapter, configuration: configuration, handlers: handlers)
        let task = Task { try await server.run() }
        return RunningServer(server: server, adapter: adapter, listeners: listeners, task: task)
    }

    func stop() async throws {
        server.stop()
        try await task.value
    }
}

/// sipp, if installed: runs one scenario file to completion.
enum Sipp {
    static var path: String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/usr/local/bin").split(separator: ":") {
            let candidate = "\(dir)/sipp"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
    static var isInstalled: Bool { path != nil }

    static func scenario(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Scenarios").appendingPathComponent(name).path
    }

    /// Runs `sipp -sf scenario -m 1` against 127.0.0.1:port; returns the exit status and stderr.
    static func run(_ scenarioName: String, transport: String, port: Int, extra: [String] = []) async throws -> (Int32, String) {
        guard let path else { return (-1, "sipp not installed") }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("sipp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.currentDirectoryURL = work
        process.arguments = ["-sf", scenario(scenarioName), "-m", "1", "-t", transport, "-i", "127.0.0.1",
                             "-p", "0", "-timeout", "60s", "-timeout_error", "-recv_timeout", "30000", "-nostdin",
                             "127.0.0.1:\(port)"] + extra
        process.standardOutput = FileHandle.nullDevice
        let errors = work.appendingPathComponent("stderr.txt")
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: errors)
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
        return (status, (try? String(contentsOf: errors, encoding: .utf8)) ?? "")
    }

    /// Whether this sipp was built with TLS (`-t l1`).
    static var supportsTLS: Bool {
        guard let path else { return false }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["-v"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        guard (try? process.run()) != nil else { return false }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return output.contains("TLS")
    }
}

/// A CA and a server identity built in-process (swift-certificates), also written as PEM
/// files for tools that want them.
struct TransactionTestPKI {
    let caPEM: String
    let certificatePEM: String
    let keyPEM: String

    init(serverName: String = "localhost") throws {
        let caKey = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let caName = try DistinguishedName { CommonName("Transaction Test CA") }
        let ca = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: caKey.publicKey,
            notValidBefore: Date().addingTimeInterval(-3600), notValidAfter: Date().addingTimeInterval(86400),
            issuer: caName, subject: caName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: caKey)
        let leafKey = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let leaf = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: leafKey.publicKey,
            notValidBefore: Date().addingTimeInterval(-3600), notValidAfter: Date().addingTimeInterval(86400),
            issuer: caName, subject: try DistinguishedName { CommonName(serverName) },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
                SubjectAlternativeNames([.dnsName(serverName)])
            },
            issuerPrivateKey: caKey)
        caPEM = try ca.serializeAsPEM().pemString
        certificatePEM = try leaf.serializeAsPEM().pemString
        keyPEM = try leafKey.serializeAsPEM().pemString
    }

    func settings() throws -> SIPTLSSettings {
        try SIPTLSSettings(certificateChainPEM: certificatePEM, privateKeyPEM: keyPEM, trustRootsPEM: caPEM)
    }

    /// Writes cert.pem, key.pem and ca.pem into a new temporary directory.
    func writePEMs() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pki-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try certificatePEM.write(to: dir.appendingPathComponent("cert.pem"), atomically: true, encoding: .utf8)
        try keyPEM.write(to: dir.appendingPathComponent("key.pem"), atomically: true, encoding: .utf8)
        try caPEM.write(to: dir.appendingPathComponent("ca.pem"), atomically: true, encoding: .utf8)
        return dir
    }
}
