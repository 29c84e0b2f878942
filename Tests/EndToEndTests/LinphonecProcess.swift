import Foundation

/// Debian's linphonec 5.1 (liblinphone) run headless from a temporary HOME: its own
/// `linphonerc` (one account registering to the server over `transport`, PUBLISHing its
/// presence, GRUU off), commands written to its stdin, what it prints collected in a file and
/// its SIP log (`-d 6 -l`) in another.
///
/// What it needs (found against Kamailio, `scripts/interop-presence`):
/// - `$HOME/.local/share/linphone` must exist: without it liblinphone cannot open its database
///   and never binds a SIP transport ("No listening point matching").
/// - `reg_route`: without it requests other than REGISTER go to the domain's DNS name.
/// - `supported=replaces, outbound` (no `gruu`): with a GRUU from the registrar its
///   SUBSCRIBE's Contact is the GRUU, which a presence agent cannot send NOTIFYs to directly.
/// - linphonec 5.1 has no command to set its own presence; it PUBLISHes open once registered
///   and un-PUBLISHes on `quit`. Over UDP that un-PUBLISH has no Content-Length.
final class LinphonecProcess {
    let process: Process
    let home: URL
    let outputFile: URL
    let sipLogFile: URL
    private let input: Pipe

    /// linphonec on PATH, or nil.
    static var executable: String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return (path.split(separator: ":").map { "\($0)/linphonec" } + ["/usr/bin/linphonec"])
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// - Parameters:
    ///   - sipPort: its local port for `transport` ("udp" or "tcp").
    ///   - password: digest password (`[auth_info_0]`), nil for none.
    ///   - extraSIP: more `[sip]` lines (`bodyless_lists=sip:...`: an RFC 4662 list subscription).
    init(executable: String, sipPort: Int, transport: String = "tcp", serverPort: Int, user: String,
         domain: String, password: String?, extraSIP: String = "") throws {
        home = FileManager.default.temporaryDirectory.appendingPathComponent("linphonec-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home.appendingPathComponent(".local/share/linphone"),
                                                withIntermediateDirectories: true)
        var config = """
            [sip]
            sip_port=\(transport == "udp" ? sipPort : 0)
            sip_tcp_port=\(transport == "tcp" ? sipPort : 0)
            sip_tls_port=0
            bind_address=127.0.0.1
            default_proxy=0
            supported=replaces, outbound
            \(extraSIP)
            [proxy_0]
            reg_proxy=<sip:127.0.0.1:\(serverPort);transport=\(transport)>
            reg_route=<sip:127.0.0.1:\(serverPort);transport=\(transport);lr>
            reg_identity="\(user)" <sip:\(user)@\(domain)>
            reg_expires=600
            reg_sendregister=1
            publish=1
            [video]
            enabled=0

            """
        if let password {
            config += "[auth_info_0]\nusername=\(user)\nuserid=\(user)\npasswd=\(password)\n"
        }
        let rc = home.appendingPathComponent("linphonerc")
        try config.write(to: rc, atomically: true, encoding: .utf8)
        outputFile = home.appendingPathComponent("output.log")
        sipLogFile = home.appendingPathComponent("linphone.log")
        _ = FileManager.default.createFile(atPath: outputFile.path, contents: nil)
        let log = try FileHandle(forWritingTo: outputFile)
        signal(SIGPIPE, SIG_IGN)  // a write to its stdin after it exited must not end the test run
        input = Pipe()
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["-c", rc.path, "-d", "6", "-l", sipLogFile.path]
        var environment = ProcessInfo.processInfo.environment
        environment["HOME"] = home.path
        process.environment = environment
        process.standardInput = input
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    /// Everything linphonec printed so far (`Friend "Alice" <sip:...> is Online` lines among it).
    var output: String { (try? String(contentsOf: outputFile, encoding: .utf8)) ?? "" }

    /// Its SIP log so far (liblinphone at level 6; `LinphoneRegistrationOk` once registered).
    var sipLog: String { (try? String(contentsOf: sipLogFile, encoding: .utf8)) ?? "" }

    /// Types one command line (e.g. `friend add "Alice" sip:alice@example.com`, `friend list`, `quit`).
    func command(_ line: String) {
        guard process.isRunning else { return }
        try? input.fileHandleForWriting.write(contentsOf: Array((line + "\n").utf8))
    }

    /// The last status linphonec printed for `address` (`Online`, `Offline`, `Away`, ...), reading
    /// only what it printed after `offset` characters of output.
    func lastFriendStatus(_ address: String, after offset: Int = 0) -> String? {
        let text = output
        let tail = text.count > offset ? String(text.dropFirst(offset)) : ""
        let prefix = "<\(address)> is "
        return tail.split(separator: "\n").compactMap { line -> String? in
            guard let range = line.range(of: prefix) else { return nil }
            return String(line[range.upperBound...].prefix { $0.isLetter || $0 == "-" })
        }.last
    }

    /// Polls until `done` (reading `output` or `sipLog`) holds or `timeout` passes.
    func waitUntil(timeout: Duration, _ done: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if done() { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return done()
    }

    /// `quit` (it un-SUBSCRIBEs, un-PUBLISHes and un-REGISTERs), then waits up to `timeout`
    /// for it to exit; kills it if it has not.
    func quit(timeout: Duration = .seconds(10)) async {
        command("quit")
        _ = await waitUntil(timeout: timeout) { !self.process.isRunning }
        stop()
    }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: home)
    }
}
