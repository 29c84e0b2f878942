import Configuration

/// Resolves `ServerSettings` with one swift-configuration reader over three providers, in
/// order of precedence:
/// 1. the command line (`--domain example.com`),
/// 2. the environment: `SIP_` and the key in capitals, `-` as `_` (`SIP_DOMAIN`,
///    `SIP_SERVER_NAME`, `SIP_TLS_CERT`, `SIP_LOG_LEVEL`); a repeatable setting takes a
///    comma-separated list (`SIP_LISTEN=udp:0.0.0.0:5060,tcp:0.0.0.0:5060`),
/// 3. the config file named by `--config` or `SIP_CONFIG` (`KeyValueSnapshot`: `key = value`),
/// then the defaults of `ServerSettings`. A repeatable setting is taken whole from the first
/// level that has it. Other `SIP_*` variables are ignored.
public struct SettingsReader: Sendable {
    /// The environment variables' prefix.
    public static let environmentPrefix = "SIP"

    public var commandLine: [String: [String]]
    public var configPath: String?
    public var environment: [String: String]
    /// Every key the file and the environment may hold (the shared ones, plus a role's own).
    public var keys: Set<String>
    public var repeatable: Set<String>
    /// The default `--server-name`.
    public var hostName: String

    public init(options: ServerOptions, environment: [String: String], hostName: String,
                roleValues: [String: [String]] = [:], roleKeys: Set<String> = [], roleRepeatable: Set<String> = []) {
        self.commandLine = options.commandLineValues.merging(roleValues) { $1 }
        self.configPath = options.config
        self.environment = environment
        self.keys = ServerOptions.settingKeys.union(roleKeys)
        self.repeatable = ServerOptions.repeatableKeys.union(roleRepeatable)
        self.hostName = hostName
    }

    /// The resolved settings, and the reader a role may use for its own keys.
    public struct Result: Sendable {
        public var settings: ServerSettings
        public var config: ConfigReader
    }

    /// Reads every setting; throws `badConfiguration` with a one-line reason naming the key
    /// and where its value came from (`SIP_AUTH: bad auth 'maybe' (expected on or off)`).
    public func read() async throws(RolesError) -> Result {
        let flags = InMemoryProvider(name: "command line", values: Dictionary(uniqueKeysWithValues: commandLine.map {
            (AbsoluteConfigKey([$0.key]), repeatable.contains($0.key)
                ? ConfigValue(.stringArray($0.value), isSecret: false)
                : ConfigValue(.string($0.value.last ?? ""), isSecret: false))
        }))
        let env = EnvironmentVariablesProvider(environmentVariables: environment)
            .prefixKeys(with: ConfigKey([Self.environmentPrefix.lowercased()]))
        var providers: [any ConfigProvider] = [flags, env]
        var file: FileProvider<KeyValueSnapshot>?
        let path = configPath ?? environment["\(Self.environmentPrefix)_CONFIG"]
        if let path {
            do {
                file = try await FileProvider<KeyValueSnapshot>(
                    parsingOptions: .init(keys: keys, fileName: path), filePath: .init(path))
            } catch let error as RolesError {
                throw error
            } catch {
                throw RolesError(.badConfiguration, "cannot read config file \(path): \(error)")
            }
            providers.append(file!)
        }
        let reader = ConfigReader(providers: providers)

        var settings = ServerSettings(serverName: hostName)
        for key in keys.sorted() {
            let values: [String]
            do {
                if repeatable.contains(key) {
                    guard let list = try await reader.fetchStringArray(forKey: ConfigKey([key])) else { continue }
                    values = list
                } else {
                    guard let value = try await reader.fetchString(forKey: ConfigKey([key])) else { continue }
                    values = [value]
                }
            } catch {
                throw RolesError(.badConfiguration, "\(source(of: key, file: file, path: path)): \(error)")
            }
            if ServerOptions.unsupportedKeys.contains(key) {
                let reason = values.map { ServerOptions.refusal(key, $0) }.first { $0.hasPrefix("bad") }
                    ?? ServerOptions.refusal(key, values.first ?? "")
                throw RolesError(.badConfiguration, "\(source(of: key, file: file, path: path)): \(reason)")
            }
            guard ServerOptions.supportedKeys.contains(key) else { continue }  // a role's own key
            do {
                try settings.set(key, to: values)
            } catch {
                throw RolesError(.badConfiguration, "\(source(of: key, file: file, path: path)): \(error.reason)")
            }
        }
        try settings.validate()
        return Result(settings: settings, config: reader)
    }

    /// Where the winning value of `key` came from: `--key`, `SIP_KEY` or `FILE: key`.
    func source(of key: String, file: FileProvider<KeyValueSnapshot>?, path: String?) -> String {
        if commandLine[key] != nil { return "--\(key)" }
        let variable = "\(Self.environmentPrefix)_" + key.uppercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()
        if environment.keys.contains(where: { $0.uppercased() == variable }) { return variable }
        return "\(path ?? "config file"): \(key)"
    }
}
