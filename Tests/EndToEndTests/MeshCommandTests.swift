import Foundation
import Testing

/// The `front-end` and `forwarding-proxy` executables (CONTRACT.md): the shared options and
/// the role's own (`--mode`, `--route`), the same listening lines and exit codes.
@Suite(.serialized) struct MeshCommandTests {
    static func executable(_ name: String) -> URL {
        HomeServerCommandTests.executable.deletingLastPathComponent().appendingPathComponent(name)
    }

    static func launch(_ name: String, _ arguments: [String]) throws -> HomeServerCommandTests.Run {
        let process = Process()
        process.executableURL = executable(name)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        return HomeServerCommandTests.Run(process: process, stdout: out, stderr: err)
    }

    @Test(arguments: [("front-end", "--mode"), ("forwarding-proxy", "--route")])
    func helpNamesTheRolesOwnOption(_ name: String, _ option: String) async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.executable(name).path), "build \(name) first")
        let run = try Self.launch(name, ["--help"])
        let text = String(decoding: run.stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(await HomeServerCommandTests.wait(run.process))
        #expect(run.process.terminationStatus == 0)
        #expect(text.contains(option))
        #expect(text.contains("--peer"))
        #expect(text.contains("mtls:HOST:PORT"))
    }

    @Test(arguments: [("front-end", ["--mode", "sideways"], "bad mode 'sideways'"),
                      ("forwarding-proxy", ["--route", "nohost"], "bad route 'nohost'"),
                      ("forwarding-proxy", ["--peer", "x=tls:127.0.0.1:5061"], "need mutual TLS")])
    func badRoleOptionsExitTwoWithOneLine(_ name: String, _ arguments: [String], _ reason: String) async throws {
        let data = try RunningHomeServer.temporaryDirectory()
        let run = try Self.launch(name, ["--data", data, "--listen", "udp:127.0.0.1:0", "--log-level", "error"] + arguments)
        #expect(await HomeServerCommandTests.wait(run.process))
        #expect(run.process.terminationStatus == 2)
        let text = String(decoding: run.stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(text.hasPrefix("\(name): "))
        #expect(text.contains(reason))
        #expect(text.split(separator: "\n").count == 1)
    }

    @Test(arguments: ["front-end", "forwarding-proxy"])
    func listensAndExitsZeroOnSIGTERM(_ name: String) async throws {
        let data = try RunningHomeServer.temporaryDirectory()
        let run = try Self.launch(name, ["--data", data, "--listen", "udp:127.0.0.1:0", "--domain", "example.com",
                                         "--route", "*=udp:127.0.0.1:5999", "--log-level", "error"].filter {
            name == "forwarding-proxy" || !$0.contains("route") && !$0.contains("5999")
        })
        let lines = await HomeServerCommandTests.lines(run.stdout, count: 1)
        #expect(lines.first?.hasPrefix("listening udp 127.0.0.1:") == true)
        run.process.terminate()
        #expect(await HomeServerCommandTests.wait(run.process))
        #expect(run.process.terminationStatus == 0)
    }
}
