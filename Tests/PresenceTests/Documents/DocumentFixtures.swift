import Foundation
import Testing

/// The presence document fixtures (Fixtures/pidf, Fixtures/winfo), read from the bundle.
enum DocumentFixtures {
    static let directory: URL = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")

    static func bytes(_ relative: String) -> [UInt8] {
        [UInt8](FileManager.default.contents(atPath: directory.appendingPathComponent(relative).path) ?? Data())
    }

    static func files(_ folder: String) -> [String] {
        let path = directory.appendingPathComponent(folder).path
        return ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [])
            .filter { !$0.hasSuffix(".tsv") }.sorted().map { folder + "/" + $0 }
    }

    /// Every valid PIDF body, as clients send them.
    static let validPIDF = files("pidf/valid")

    /// One row of pidf/invalid/EXPECTED.tsv: a body and the error code it must get.
    struct Rejection: Sendable, CustomTestStringConvertible {
        var file: String, code: String, what: String
        var testDescription: String { "\(file): \(what)" }
    }

    static let invalidPIDF: [Rejection] = {
        let text = String(decoding: bytes("pidf/invalid/EXPECTED.tsv"), as: UTF8.self)
        return text.split(separator: "\n").dropFirst().map { line in
            let c = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            return Rejection(file: "pidf/invalid/" + c[0], code: c[1], what: c.count > 2 ? c[2] : "")
        }
    }()
}
