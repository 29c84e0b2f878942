import Configuration

/// A `--config` file in the servers' `key = value` format, as a swift-configuration file
/// snapshot (read with `FileProvider<KeyValueSnapshot>`):
///
/// ```
/// # lab server
/// data = /var/sip
/// domain = a.example        # repeatable: one line per value
/// domain = b.example
/// listen = udp:0.0.0.0:5060
/// auth = off
/// log-level = "debug"
/// ```
///
/// Keys are the long option names (a leading `--` is allowed), `#` starts a comment, blank
/// lines are ignored, values may be double-quoted. A key not in `ParsingOptions.keys` is
/// refused with its line number. Asked for a string, a key gives its last value; asked for a
/// string array, all of its values in file order.
///
/// Why not a stock format: swift-configuration 1.4 reads JSON (`JSONSnapshot`, its default
/// trait), YAML (`YAMLSnapshot`, trait `YAML`, pulls in Yams) and property lists (trait
/// `PropertyList`); this snapshot keeps the servers' existing files working unchanged.
public struct KeyValueSnapshot: FileConfigSnapshot {
    public struct ParsingOptions: FileParsingOptions {
        /// The keys a file may hold.
        public var keys: Set<String>
        /// The file's name, for error messages.
        public var fileName: String

        public init(keys: Set<String> = ServerOptions.settingKeys, fileName: String = "config") {
            self.keys = keys
            self.fileName = fileName
        }

        public static var `default`: ParsingOptions { ParsingOptions() }
    }

    public let providerName: String
    /// Every value of every key, in file order.
    public let values: [String: [String]]

    public init(data: RawSpan, providerName: String, parsingOptions: ParsingOptions) throws {
        let bytes = data.withUnsafeBytes { Array($0) }
        let text = String(decoding: bytes, as: UTF8.self)
        try self.init(text: text, providerName: providerName, parsingOptions: parsingOptions)
    }

    public init(text: String, providerName: String = "config file",
                parsingOptions: ParsingOptions = .default) throws(RolesError) {
        self.providerName = providerName
        var values: [String: [String]] = [:]
        for (key, value) in try ServerSettings.parseConfigFile(text, name: parsingOptions.fileName,
                                                              keys: parsingOptions.keys) {
            values[key, default: []].append(value)
        }
        self.values = values
    }

    public func value(forKey key: AbsoluteConfigKey, type: ConfigType) throws -> LookupResult {
        let name = key.components.joined(separator: ".")
        guard let found = values[name], let last = found.last else {
            return LookupResult(encodedKey: name, value: nil)
        }
        switch type {
        case .string: return LookupResult(encodedKey: name, value: ConfigValue(.string(last), isSecret: false))
        case .stringArray: return LookupResult(encodedKey: name, value: ConfigValue(.stringArray(found), isSecret: false))
        default: throw RolesError(.badConfiguration, "\(name): only text values are read from a config file")
        }
    }

    public var description: String { "\(providerName)[\(values.count) keys]" }
    public var debugDescription: String {
        let pairs = values.keys.sorted().map { "\($0)=\(values[$0]!.joined(separator: ","))" }
        return "\(providerName)[\(pairs.joined(separator: ", "))]"
    }
}
