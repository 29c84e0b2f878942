import Foundation
import Testing

/// The `home-server` executable's command-line contract (CONTRACT.md): one `listening` line
/// per listener, exit 0 on SIGTERM after a graceful shutdown, exit non-zero with a one-line
/// reason when it cannot start.
@Suite(.serialized) struct HomeServerCommandTests {
    /// `home-server` next to the test bundle (`swift build --build-tests` builds both).
    static var executable: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("home-server")
    }

    struct Run {
        let process: Process
        let stdout: Pipe
        let stderr: Pipe
    }

    static func launch(_ arguments: [String]) throws -> Run {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        return Run(process: process, stdout: out, stderr: err)
    }

    static func wait(_ process: Process, timeout: Duration = .seconds(60)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        return !process.isRunning
    }

    /// Reads stdout until `count` lines arrived (or EOF).
    static func lines(_ pipe: Pipe, count: Int) async -> [String] {
        var text = ""
        let handle = pipe.fileHandleForReading
        while text.split(separator: "\n").count < count {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        return text.split(separator: "\n").map(String.init)
    }

    @Test func printsListenersAndExitsZeroOnSIGTERM() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.executable.path), "build home-server first")
        let data = try RunningHomeServer.temporaryDirectory()
        let run = try Self.launch(["--data", data, "--listen", "udp:127.0.0.1:0", "--listen", "tcp:127.0.0.1:0",
                                   "--domain", "example.com", "--log-level", "error"])
        let lines = await Self.lines(run.stdout, count: 2)
        #expect(lines.count == 2)
        #expect(lines.first?.hasPrefix("listening udp 127.0.0.1:") == true)
        #expect(lines.last?.hasPrefix("listening tcp 127.0.0.1:") == true)
        #expect(!lines.contains { $0.hasSuffix(":0") })  // the bound port, not the requested 0
        run.process.terminate()
        #expect(await Self.wait(run.process))
        #expect(run.process.terminationStatus == 0)
    }

    @Test func portTakenExitsNonZeroWithOneLine() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.executable.path), "build home-server first")
        let server = try await RunningHomeServer.start(auth: false)
        let run = try Self.launch(["--data", server.dataDirectory + "-second", "--listen", "tcp:127.0.0.1:\(server.tcpPort)",
                                   "--log-level", "error"])
        #expect(await Self.wait(run.process))
        #expect(run.process.terminationStatus == 1)  // cannot start: 1 (a bad option would be 2)
        let reason = String(decoding: run.stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(reason.split(separator: "\n").count == 1)
        #expect(reason.contains("cannot listen"))
        #expect(reason.hasPrefix("home-server: "))
        try await server.stop()
    }

    @Test(arguments: [["--listen", "sctp:1.2.3.4:5"], ["--auth", "maybe"], ["--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.pem"]])
    func badOptionExitsNonZero(arguments: [String]) async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.executable.path), "build home-server first")
        let data = try RunningHomeServer.temporaryDirectory()
        let run = try Self.launch(["--data", data, "--log-level", "error"] + arguments)
        #expect(await Self.wait(run.process))
        #expect(run.process.terminationStatus != 0)
        let reason = String(decoding: run.stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(reason.contains("home-server: "))
    }

    @Test func helpListsTheContractOptions() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.executable.path), "build home-server first")
        let run = try Self.launch(["--help"])
        let help = String(decoding: run.stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(await Self.wait(run.process))
        #expect(run.process.terminationStatus == 0)
        for option in ["--config", "--data", "--domain", "--listen", "--server-name", "--tls-cert", "--tls-key",
                       "--tls-ca", "--auth", "--log-level", "--peer", "--federate", "--metrics", "--archive",
                       "--archive-required", "--directory", "--digest-algorithms", "--demo",
                       "SIP_DOMAIN", "SIP_CONFIG", "key = value"] {
            #expect(help.contains(option), "--help lacks \(option)")
        }
    }

    /// A bad setting (here from a config file) or a not-yet-supported option: exit 2 and one
    /// line naming the key.
    @Test(arguments: [(["auth = maybe"], "auth"), (["directory = mysql://db/sip"], "bad directory 'mysql://db/sip'"),
                      (["colour = blue"], "unknown setting 'colour'")])
    func badConfigFileExitsTwo(lines: [String], expected: String) async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.executable.path), "build home-server first")
        let data = try RunningHomeServer.temporaryDirectory()
        let config = data + "/home-server.conf"
        try (lines.joined(separator: "\n") + "\n").write(toFile: config, atomically: true, encoding: .utf8)
        let run = try Self.launch(["--config", config, "--data", data, "--listen", "udp:127.0.0.1:0"])
        #expect(await Self.wait(run.process))
        #expect(run.process.terminationStatus == 2)
        let reason = String(decoding: run.stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(reason.split(separator: "\n").count == 1)
        #expect(reason.hasPrefix("home-server: \(config)"))
        #expect(reason.contains(expected))
    }

    @Test func unknownOptionExitsTwo() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.executable.path), "build home-server first")
        let run = try Self.launch(["--colour", "blue"])
        #expect(await Self.wait(run.process))
        #expect(run.process.terminationStatus == 2)
        let reason = String(decoding: run.stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(reason.hasPrefix("home-server: "))
        #expect(reason.split(separator: "\n").count == 1)
    }
}
