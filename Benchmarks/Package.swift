// swift-tools-version: 6.1
// package-benchmark suites for the SIP server (ARCHITECTURE.md `Benchmarks/`). A separate
// package so the root package's build (and CI) stays lean.
//   cd Benchmarks && swift package benchmark                    # all suites, release build
//   cd Benchmarks && swift package benchmark --target SIPCoreBenchmarks
// To add a suite: put its sources in Benchmarks/<Name>/ and add one `suite(...)` line below,
// naming the root package's products it measures.
import PackageDescription

/// The root package is a path dependency; its identity is its directory's name.
let root = Context.packageDirectory.split(separator: "/").dropLast().last.map(String.init) ?? "swift-sip-server"

func suite(_ name: String, products: [String]) -> Target {
    .executableTarget(
        name: name,
        dependencies: [.product(name: "Benchmark", package: "benchmark")]
            + products.map { .product(name: $0, package: root) },
        path: "Benchmarks/\(name)",
        plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
    )
}

let package = Package(
    name: "SIPBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", exact: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        suite("SIPCoreBenchmarks", products: ["SIPCore"]),
        suite("TransactionBenchmarks", products: ["SIPTransaction", "SIPTransport", "SIPCore"]),
        suite("UserAgentBenchmarks", products: ["SIPUserAgent", "Roles", "Store", "SIPDigest"]),
    ]
)
