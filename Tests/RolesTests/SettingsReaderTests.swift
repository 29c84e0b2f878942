import ArgumentParser
import Foundation
import Testing
@testable import Roles

/// `SettingsReader`: command line > `SIP_*` environment > config file > defaults, and bad
/// values refused with a reason naming the key and where it came from.
@Suite struct SettingsReaderTests {
    static func file(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sip-\(UUID().uuidString).conf").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func read(_ arguments: [String], environment: [String: String] = [:]) async throws -> ServerSettings {
        let options = try ServerOptions.parse(arguments)
        return try await SettingsReader(options: options, environment: environment, hostName: "host.example")
            .read().settings
    }

    static func reason(_ arguments: [String], environment: [String: String] = [:]) async -> String? {
        do {
            _ = try await read(arguments, environment: environment)
            return nil
        } catch let error as RolesError {
            return error.reason
        } catch {
            return "\(error)"
        }
    }

    @Test func defaultsWithoutFileOrEnvironment() async throws {
        let s = try await Self.read([])
        #expect(s == ServerSettings(serverName: "host.example"))
        #expect(s.dataDirectory == "./sip-data")
        #expect(s.domains == ["localhost"])
    }

    @Test func flagOverEnvironmentOverFile() async throws {
        let path = try Self.file("""
        # lab server
        data = /from/file
        domain = file.example
        domain = file2.example
        server-name = file.host
        auth = off
        log-level = "debug"
        listen = udp:127.0.0.1:5070
        """)
        let environment = ["SIP_DATA": "/from/env", "SIP_SERVER_NAME": "env.host",
                           "SIP_DOMAIN": "env.example, env2.example", "SIP_ARGS": "ignored", "SIP_PROTOS": "udp"]
        let s = try await Self.read(["--config", path, "--data", "/from/flag"], environment: environment)
        #expect(s.dataDirectory == "/from/flag")          // flag over environment and file
        #expect(s.serverName == "env.host")               // environment over file
        #expect(s.domains == ["env.example", "env2.example"])  // a list taken whole from one level
        #expect(!s.authentication)                        // file over default
        #expect(s.logLevel == .debug)
        #expect(s.listen == [ListenAddress(transport: .udp, host: "127.0.0.1", port: 5070)])
        #expect(s.digestAlgorithms == ["MD5"])  // default: one MD5 challenge

        let flags = try await Self.read(["--config", path, "--domain", "a.example", "--domain", "b.example",
                                         "--auth", "on"], environment: environment)
        #expect(flags.domains == ["a.example", "b.example"])
        #expect(flags.authentication)
    }

    @Test func configFileNamedInTheEnvironment() async throws {
        let path = try Self.file("domain = file.example\n")
        let s = try await Self.read([], environment: ["SIP_CONFIG": path])
        #expect(s.domains == ["file.example"])
    }

    @Test func badValuesNameTheKeyAndTheSource() async throws {
        let path = try Self.file("auth = maybe\n")
        let fromFile = await Self.reason(["--config", path])
        #expect(fromFile == "\(path): auth: bad auth 'maybe' (expected on or off)")
        #expect(await Self.reason([], environment: ["SIP_LISTEN": "sctp:1.2.3.4:5"])?.hasPrefix("SIP_LISTEN: bad listen 'sctp:1.2.3.4:5'") == true)
        #expect(await Self.reason(["--log-level", "loud"])?.hasPrefix("--log-level: bad log-level 'loud'") == true)
        // the flag wins, so a bad value lower down is never read
        #expect(await Self.reason(["--config", path, "--auth", "off"]) == nil)
    }

    @Test(arguments: ["colour = blue", "no equals sign"])
    func badFileLinesAreRefusedWithTheLine(line: String) async throws {
        let path = try Self.file("domain = a.example\n\(line)\n")
        let reason = try #require(await Self.reason(["--config", path]))
        #expect(reason.hasPrefix("\(path):2: "))
    }

    @Test func missingFileIsRefused() async throws {
        let reason = try #require(await Self.reason(["--config", "/nonexistent/sip.conf"]))
        #expect(reason.hasPrefix("cannot read config file /nonexistent/sip.conf"))
    }

    @Test func notYetSupportedOptionsAreRefusedByName() async throws {
        #expect(await Self.reason(["--metrics", "nonsense"]) == "--metrics: bad metrics 'nonsense' (expected HOST:PORT)")
        #expect(await Self.reason(["--peer", "h2.example=udp:192.0.2.2:5061"])?.contains("expected NAME=tls:HOST:PORT") == true)
        #expect(await Self.reason(["--archive", "mysql"])?.contains("expected sqlite or postgresql://...") == true)
        #expect(await Self.reason(["--archive-required"]) == "--archive-required needs --archive")
        #expect(await Self.reason([], environment: ["SIP_DIRECTORY": "mysql://db/sip"])
            == "SIP_DIRECTORY: bad directory 'mysql://db/sip' (expected postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE)")
        #expect(try await Self.read(["--directory", "postgresql://sip@db/sip"]).directory == "postgresql://sip@db/sip")
    }

    @Test func peersAndFederationsNeedMutualTLS() async throws {
        #expect(await Self.reason(["--peer", "h2.example=tls:192.0.2.2:5061"])
            == "--peer and --federate need mutual TLS: --tls-cert, --tls-key and --tls-ca")
        let path = try Self.file("federate = partner.example=edge.partner.example\n")
        #expect(await Self.reason(["--config", path]) == "--peer and --federate need mutual TLS: --tls-cert, --tls-key and --tls-ca")
        #expect(await Self.reason(["--federate", "nonsense"]) == "--federate: bad federate 'nonsense' (expected DOMAIN=SERVER)")
        let tls = ["SIP_TLS_CERT": "c.pem", "SIP_TLS_KEY": "k.pem", "SIP_TLS_CA": "ca.pem"]
        let s = try await Self.read(["--peer", "HS2.example=tls:192.0.2.2:5061", "--peer", "fe.example=tls:[::1]:5062",
                                     "--listen", "mtls:0.0.0.0:5062"], environment: tls)
        #expect(s.peers.map(\.name) == ["hs2.example", "fe.example"])
        #expect(s.peers[1].address == ListenAddress(transport: .tls, host: "::1", port: 5062))
        #expect(s.listen.first?.requiresClientCertificate == true)
        #expect(await Self.reason(["--listen", "mtls:0.0.0.0:5062"], environment: ["SIP_TLS_CERT": "c.pem", "SIP_TLS_KEY": "k.pem"])
            == "an mtls listener needs --tls-ca (the CA peer certificates must chain to)")
    }

    @Test func archiveMetricsAndRequestLogAreRead() async throws {
        let s = try await Self.read(["--archive", "sqlite", "--archive-required", "--metrics", "127.0.0.1:9090",
                                     "--log-requests"])
        #expect(s.archive == "sqlite")
        #expect(s.archiveRequired)
        #expect(s.metrics == ListenAddress(transport: .tcp, host: "127.0.0.1", port: 9090))
        #expect(s.logRequests)
        let e = try await Self.read([], environment: ["SIP_ARCHIVE": "sqlite", "SIP_LOG_REQUESTS": "on"])
        #expect(e.archive == "sqlite")
        #expect(e.logRequests)
        #expect(!e.archiveRequired)
        #expect(e.metrics == nil)
        #expect(try await Self.read(["--archive", "postgresql://sip@db.example/archive"]).archive
                == "postgresql://sip@db.example/archive")
    }

    @Test func bareArchiveMeansSQLite() throws {
        #expect(ServerOptions.expandingBareArchive(["--archive"]) == ["--archive", "sqlite"])
        #expect(ServerOptions.expandingBareArchive(["--archive", "--auth", "off"]) == ["--archive", "sqlite", "--auth", "off"])
        #expect(ServerOptions.expandingBareArchive(["--archive", "sqlite"]) == ["--archive", "sqlite"])
    }

    @Test func tlsListenerNeedsACertificate() async throws {
        #expect(await Self.reason(["--listen", "tls:0.0.0.0:5061"]) == "a tls listener needs --tls-cert and --tls-key")
        let s = try await Self.read(["--listen", "tls:0.0.0.0:5061"],
                                    environment: ["SIP_TLS_CERT": "c.pem", "SIP_TLS_KEY": "k.pem"])
        #expect(s.tlsCertificate == "c.pem")
    }

    @Test func keyValueSnapshotAnswersStringsAndLists() throws {
        let snapshot = try KeyValueSnapshot(text: "listen = udp:1.2.3.4:5\n--listen = tcp:1.2.3.4:5\nauth = off\n")
        #expect(snapshot.values["listen"] == ["udp:1.2.3.4:5", "tcp:1.2.3.4:5"])
        #expect(snapshot.values["auth"] == ["off"])
    }
}
