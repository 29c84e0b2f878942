import Testing
@testable import Roles

@Suite struct ServerSettingsTests {
    @Test func defaultsFollowTheContract() throws {
        var s = ServerSettings(serverName: "h")
        try s.apply([])
        #expect(s.dataDirectory == "./sip-data")
        #expect(s.domains == ["localhost"])
        #expect(s.authentication)
        #expect(s.effectiveListen.map(\.description) == ["udp 0.0.0.0:5060", "tcp 0.0.0.0:5060"])
        s.tlsCertificate = "c.pem"
        #expect(s.effectiveListen.map(\.description).last == "tls 0.0.0.0:5061")
    }

    @Test func configFileThenCommandLine() throws {
        let file = try ServerSettings.parseConfigFile("""
        # lab server
        data = /var/sip
        domain = a.example
        domain = b.example
        listen = udp:127.0.0.1:5070
        auth = off   # closed lab
        log-level = "debug"
        """)
        var s = ServerSettings(serverName: "h")
        try s.apply(file)
        #expect(s.domains == ["a.example", "b.example"])
        #expect(!s.authentication)
        #expect(s.logLevel == .debug)
        try s.apply([("domain", "c.example"), ("listen", "tcp:[::1]:5080")])
        #expect(s.domains == ["c.example"])
        #expect(s.listen == [ListenAddress(transport: .tcp, host: "::1", port: 5080)])
        #expect(s.dataDirectory == "/var/sip")
    }

    @Test func digestAlgorithmOrderIsConfigurable() throws {
        var s = ServerSettings(serverName: "h")
        #expect(s.digestAlgorithms == ["MD5"])
        try s.apply([("digest-algorithms", "MD5,SHA-256")])
        #expect(s.digestAlgorithms == ["MD5", "SHA-256"])
        try s.apply([("digest-algorithms", "sha-256, md5")])
        #expect(s.digestAlgorithms == ["SHA-256", "MD5"])
        try s.apply([("digest-algorithms", "SHA-256")])
        #expect(s.digestAlgorithms == ["SHA-256"])
    }

    @Test(arguments: ["listen = sctp:1.2.3.4:5", "auth = maybe", "digest-algorithms = SHA-1",
                      "digest-algorithms = MD5,MD5", "colour = blue", "no equals sign", "log-level = loud"])
    func badSettingsAreRefused(line: String) {
        #expect(throws: RolesError.self) {
            var s = ServerSettings(serverName: "h")
            try s.apply(try ServerSettings.parseConfigFile(line))
        }
    }

    @Test func tlsListenerNeedsCertificate() {
        #expect(throws: RolesError.self) {
            var s = ServerSettings(serverName: "h")
            try s.apply([("listen", "tls:0.0.0.0:5061")])
        }
    }
}
