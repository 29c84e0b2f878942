import NIOCore
import NIOSSL
import X509

/// Which peer certificate names a TLS connection accepts (RFC 5922 §7: DNS SANs, else the CN).
public enum SIPPeerNameCheck: Sendable {
    /// Any certificate that chains to the trust roots.
    case any
    /// One of the names must be in the set (compared case-insensitively).
    case names(Set<String>)
    /// Decide per connection from the certificate's names and the peer address.
    case custom(@Sendable (_ names: [String], _ remote: SocketAddress?) -> Bool)

    func accepts(_ names: [String], remote: SocketAddress?) -> Bool {
        switch self {
        case .any:
            return true
        case .names(let allowed):
            let lowered = Set(allowed.map { $0.lowercased() })
            return names.contains { lowered.contains($0.lowercased()) }
        case .custom(let check):
            return check(names, remote)
        }
    }
}

/// Whether TLS listeners ask connecting peers for a certificate.
public enum SIPClientCertificatePolicy: Hashable, Sendable {
    /// Plain server-authenticated TLS (user agents).
    case none
    /// A certificate is verified (chain and names) if presented; peers without one are served.
    case optional
    /// Mutual TLS: no certificate, an untrusted one, or one for another name is refused.
    case required
}

/// TLS settings of the transport (swift-nio-ssl; TLS 1.2 or newer only).
///
/// The same certificate serves listeners and is presented as the client certificate on
/// outbound server-to-server connections.
public struct SIPTLSSettings: Sendable {
    /// The server's certificate chain, leaf first.
    public var certificateChain: [NIOSSLCertificate]
    public var privateKey: NIOSSLPrivateKey
    /// The CAs peer certificates must chain to; empty = the system's default trust store.
    public var trustRoots: [NIOSSLCertificate]
    /// Client certificates on TLS listeners.
    public var clientCertificates: SIPClientCertificatePolicy
    /// The names an inbound peer's certificate must carry (when it presents one).
    public var inboundPeerNames: SIPPeerNameCheck

    public init(certificateChain: [NIOSSLCertificate], privateKey: NIOSSLPrivateKey, trustRoots: [NIOSSLCertificate] = [],
                clientCertificates: SIPClientCertificatePolicy = .none, inboundPeerNames: SIPPeerNameCheck = .any) {
        self.certificateChain = certificateChain
        self.privateKey = privateKey
        self.trustRoots = trustRoots
        self.clientCertificates = clientCertificates
        self.inboundPeerNames = inboundPeerNames
    }

    /// Loads `--tls-cert`, `--tls-key` and `--tls-ca` PEM files.
    public init(certificateChainPEMFile: String, privateKeyPEMFile: String, trustRootsPEMFile: String? = nil,
                clientCertificates: SIPClientCertificatePolicy = .none, inboundPeerNames: SIPPeerNameCheck = .any) throws(SIPTransportError) {
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(certificateChainPEMFile)
            guard !chain.isEmpty else {
                throw SIPTransportError(.tlsConfiguration, "no certificate in \(certificateChainPEMFile)")
            }
            let key = try NIOSSLPrivateKey(file: privateKeyPEMFile, format: .pem)
            let roots = try trustRootsPEMFile.map { try NIOSSLCertificate.fromPEMFile($0) } ?? []
            self.init(certificateChain: chain, privateKey: key, trustRoots: roots,
                      clientCertificates: clientCertificates, inboundPeerNames: inboundPeerNames)
        } catch let error as SIPTransportError {
            throw error
        } catch {
            throw SIPTransportError(.tlsConfiguration, "cannot load certificate, key or CA: \(error)")
        }
    }

    /// The same from PEM text (tests, configuration stores).
    public init(certificateChainPEM: String, privateKeyPEM: String, trustRootsPEM: String? = nil,
                clientCertificates: SIPClientCertificatePolicy = .none, inboundPeerNames: SIPPeerNameCheck = .any) throws(SIPTransportError) {
        do {
            let chain = try NIOSSLCertificate.fromPEMBytes(Array(certificateChainPEM.utf8))
            guard !chain.isEmpty else { throw SIPTransportError(.tlsConfiguration, "no certificate in PEM") }
            let key = try NIOSSLPrivateKey(bytes: Array(privateKeyPEM.utf8), format: .pem)
            let roots = try trustRootsPEM.map { try NIOSSLCertificate.fromPEMBytes(Array($0.utf8)) } ?? []
            self.init(certificateChain: chain, privateKey: key, trustRoots: roots,
                      clientCertificates: clientCertificates, inboundPeerNames: inboundPeerNames)
        } catch let error as SIPTransportError {
            throw error
        } catch {
            throw SIPTransportError(.tlsConfiguration, "cannot parse certificate, key or CA: \(error)")
        }
    }

    private var trust: NIOSSLTrustRoots {
        trustRoots.isEmpty ? .default : .certificates(trustRoots)
    }

    /// - Parameter requiring: a listener of servers (`mtls:`): a client certificate is
    ///   required whatever `clientCertificates` says.
    func makeServerContext(requiring: Bool = false) throws(SIPTransportError) -> NIOSSLContext {
        var config = TLSConfiguration.makeServerConfiguration(
            certificateChain: certificateChain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
        config.minimumTLSVersion = .tlsv12
        config.trustRoots = trust
        switch requiring ? .required : clientCertificates {
        case .none: config.certificateVerification = .none
        case .optional: config.certificateVerification = .optionalVerification
        case .required: config.certificateVerification = .noHostnameVerification
        }
        return try Self.context(config)
    }

    /// Outbound: verify the server against the trust roots (and its name when one is given,
    /// per connection), and present our own certificate as the client certificate.
    func makeClientContext() throws(SIPTransportError) -> NIOSSLContext {
        var config = TLSConfiguration.makeClientConfiguration()
        config.certificateChain = certificateChain.map { .certificate($0) }
        config.privateKey = .privateKey(privateKey)
        config.minimumTLSVersion = .tlsv12
        config.trustRoots = trust
        config.certificateVerification = .noHostnameVerification  // names checked per connection
        return try Self.context(config)
    }

    private static func context(_ config: TLSConfiguration) throws(SIPTransportError) -> NIOSSLContext {
        do {
            return try NIOSSLContext(configuration: config)
        } catch {
            throw SIPTransportError(.tlsConfiguration, "cannot build TLS context: \(error)")
        }
    }
}

/// Names of a certificate for peer checks: its DNS subjectAltNames, else its subject CN
/// (RFC 5922 §7.1 uses SIP URIs and DNS names; RFC 5280 §4.2.1.6).
public enum SIPCertificateNames {
    public static func names(of certificate: NIOSSLCertificate) -> [String] {
        guard let der = try? certificate.toDERBytes(), let cert = try? Certificate(derEncoded: der) else { return [] }
        return names(of: cert)
    }

    public static func names(of cert: Certificate) -> [String] {
        var dns: [String] = []
        if let sans = try? cert.extensions.subjectAlternativeNames {
            for name in sans {
                switch name {
                case .dnsName(let n): dns.append(n)
                case .uniformResourceIdentifier(let uri):  // RFC 5922 §7.1: sip:example.com
                    if let host = sipURIHost(uri) { dns.append(host) }
                default: break
                }
            }
        }
        if !dns.isEmpty { return dns }
        var cns: [String] = []
        for rdn in cert.subject {
            for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                if let cn = String(attribute.value) { cns.append(cn) }
            }
        }
        return cns
    }

    private static func sipURIHost(_ uri: String) -> String? {
        let lower = uri.lowercased()
        guard lower.hasPrefix("sip:") else { return nil }
        let host = lower.dropFirst(4).prefix { $0 != ";" && $0 != ":" && $0 != ">" }
        return host.isEmpty || host.contains("@") ? nil : String(host)
    }
}
