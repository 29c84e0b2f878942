import Logging
import Registrar
import Store

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `--demo` (every role): the README's first command. Provisions the demo users alice and bob
/// in the first domain with fresh random passwords (each run sets new ones: the store keeps
/// only digests), and prints a sipsak command that registers alice.
public enum DemoUsers {
    public static let users = ["alice", "bob"]

    /// Creates (or resets the passwords of) alice and bob; returns `(aor, password)`.
    @discardableResult
    public static func provision(settings: ServerSettings) async throws -> [(aor: String, password: String)] {
        let domain = settings.domains.first ?? "localhost"
        // The shared directory with `--directory`, else the embedded store.
        let shared = try await SharedDirectory.open(settings: settings, logger: Logger(label: "sip.demo"))
        let local = shared == nil ? try SQLiteStore(directory: settings.dataDirectory) : nil
        let store: any SharedDirectoryStore = shared ?? local!
        defer { try? local?.close() }
        do {
            let created = try await provision(store, domain: domain)
            await shared?.close()
            return created
        } catch {
            await shared?.close()
            throw error
        }
    }

    static func provision(_ store: any SharedDirectoryStore, domain: String) async throws -> [(aor: String, password: String)] {
        var created: [(aor: String, password: String)] = []
        for user in users {
            let aor = "\(user)@\(domain)"
            let password = randomPassword()
            let ha1 = DigestHA1.compute(user: user, realm: domain, password: password)
            if try await store.user(aor) != nil {
                try await store.setCredentials(aor, ha1MD5: ha1.md5, ha1SHA256: ha1.sha256)
                try await store.setEnabled(aor, true)
            } else {
                try await store.addUser(UserRecord(aor: aor, ha1MD5: ha1.md5, ha1SHA256: ha1.sha256))
            }
            created.append((aor, password))
        }
        return created
    }

    public static func printInstructions(_ provisioned: [(aor: String, password: String)], settings: ServerSettings,
                                  listeners: [ListenAddress]) {
        let domain = settings.domains.first ?? "localhost"
        let udp = listeners.first { $0.transport == .udp }
        let host = (udp?.isWildcard ?? true) ? "127.0.0.1" : udp!.host
        let port = udp?.port ?? 5060
        print("demo users in \(settings.dataDirectory) (domain \(domain)):")
        for (aor, password) in provisioned { print("  sip:\(aor)  password \(password)") }
        if let alice = provisioned.first {
            let user = alice.aor.prefix { $0 != "@" }
            print("try it: register alice with digest authentication (expect 'All usrloc tests completed successful'):")
            print("  sipsak -U -x 300 -s sip:\(alice.aor) -p \(host):\(port) -u \(user) -a \(alice.password) -vv")
        }
        if provisioned.count >= 2 {
            let bob = provisioned[1]
            let user = bob.aor.prefix { $0 != "@" }
            print("presence: alice watches bob (lines starting 'demo:'); sign bob in for 5 minutes and she sees him open:")
            print("  sipsak -U -C sip:\(user)@127.0.0.1:9 -x 300 -s sip:\(bob.aor) -p \(host):\(port) -u \(user) -a \(bob.password)")
        }
        fflush(nil)
    }

    public static func randomPassword() -> String {
        let alphabet = Array("abcdefghijkmnopqrstuvwxyzACDEFGHJKLMNPQRSTUVWXYZ23456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<12).map { _ in alphabet[Int(generator.next(upperBound: UInt64(alphabet.count)))] })
    }
}
