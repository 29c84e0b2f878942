import Crypto
import Foundation
import NIOSSL
import X509
@testable import SIPTransport

/// A certificate authority built in-process (swift-certificates + swift-crypto, P-256).
struct TestCA {
    let key: Certificate.PrivateKey
    let name: DistinguishedName
    let certificate: Certificate

    init(_ commonName: String) throws {
        key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        name = try DistinguishedName { CommonName(commonName) }
        certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: key.publicKey,
            notValidBefore: Date().addingTimeInterval(-3600), notValidAfter: Date().addingTimeInterval(86400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: key)
    }

    var pem: String { get throws { try certificate.serializeAsPEM().pemString } }

    /// A leaf for `dnsNames` (SANs) or, with none, with only the CN; usable as server and client.
    func issue(commonName: String, dnsNames: [String]) throws -> TestIdentity {
        let leafKey = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let subject = try DistinguishedName { CommonName(commonName) }
        let cert = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: leafKey.publicKey,
            notValidBefore: Date().addingTimeInterval(-3600), notValidAfter: Date().addingTimeInterval(86400),
            issuer: name, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
                if !dnsNames.isEmpty { SubjectAlternativeNames(dnsNames.map { .dnsName($0) }) }
            },
            issuerPrivateKey: key)
        return TestIdentity(certificatePEM: try cert.serializeAsPEM().pemString,
                            keyPEM: try leafKey.serializeAsPEM().pemString, caPEM: try pem)
    }
}

struct TestIdentity {
    let certificatePEM: String
    let keyPEM: String
    let caPEM: String

    func settings(trusting caPEM: String? = nil, clientCertificates: SIPClientCertificatePolicy = .none,
                  inboundPeerNames: SIPPeerNameCheck = .any) throws -> SIPTLSSettings {
        try SIPTLSSettings(certificateChainPEM: certificatePEM, privateKeyPEM: keyPEM, trustRootsPEM: caPEM ?? self.caPEM,
                           clientCertificates: clientCertificates, inboundPeerNames: inboundPeerNames)
    }

    var nioCertificate: NIOSSLCertificate { get throws { try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8))[0] } }
    var nioKey: NIOSSLPrivateKey { get throws { try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem) } }
}
