// swift-tools-version: 6.1
// SIP instant-messaging and presence server family. Layers per ARCHITECTURE.md:
// SIPCore -> SIPTransport -> SIPTransaction -> Store/Registrar -> Roles -> executables;
// SIPUserAgent (a client library) sits on SIPTransport/SIPTransaction/SIPDialog/SIPDigest/
// PresenceDocuments and never on Store or Roles.
import PackageDescription

let package = Package(
    name: "swift-sip-server",
    platforms: [.macOS(.v15)],  // swift-configuration needs macOS 15
    products: [
        .library(name: "SIPCore", targets: ["SIPCore"]),
        .library(name: "SIPTransport", targets: ["SIPTransport"]),
        .library(name: "SIPTransaction", targets: ["SIPTransaction"]),
        .library(name: "Store", targets: ["Store"]),
        .library(name: "SIPDigest", targets: ["SIPDigest"]),
        .library(name: "Registrar", targets: ["Registrar"]),
        .library(name: "Archive", targets: ["Archive"]),
        .library(name: "SIPDialog", targets: ["SIPDialog"]),
        .library(name: "PresenceDocuments", targets: ["PresenceDocuments"]),
        .library(name: "Presence", targets: ["Presence"]),
        .library(name: "SIPUserAgent", targets: ["SIPUserAgent"]),
        .library(name: "Roles", targets: ["Roles"]),
        .executable(name: "sipctl", targets: ["sipctl"]),
        .executable(name: "home-server", targets: ["home-server"]),
        .executable(name: "front-end", targets: ["front-end"]),
        .executable(name: "forwarding-proxy", targets: ["forwarding-proxy"]),
        // Examples/: programs that use the library as a package user would.
        .executable(name: "echo-bot", targets: ["echo-bot"]),
        .executable(name: "presence-watch", targets: ["presence-watch"]),
        .executable(name: "custom-policy-server", targets: ["custom-policy-server"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        // One reader over the config file, the environment and the flags (default trait
        // JSON only; our `key = value` files have their own snapshot type in Roles).
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0"),
        // Operators' view: counters (swift-metrics), Prometheus text, and the HTTP server
        // that serves `/metrics` and `/health`.
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        // The central archive of many servers (`--archive postgresql://...`).
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        // `swift package generate-documentation` (scripts/docs): the DocC catalogs of
        // SIPCore and Roles. A command plugin only: nothing of it is linked into a product.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // Message grammar: pure value types, no NIO.
        .target(name: "SIPCore"),
        .target(
            name: "SIPTransport",
            dependencies: [
                "SIPCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "SIPTransaction",
            dependencies: [
                "SIPCore", "SIPTransport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "Store",
            dependencies: [
                "SIPCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Message archiving: the durable local spool, the shipper and the archive database
        // (their own SQLite files in the data folder, not migrations of the main store).
        .target(
            name: "Archive",
            dependencies: [
                "SIPCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The archive in PostgreSQL (postgres-nio), beside the embedded SQLite one.
        .target(
            name: "ArchivePostgres",
            dependencies: [
                "Archive", "StorePostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The directory shared by several servers in PostgreSQL (`--directory postgresql://...`).
        .target(
            name: "StorePostgres",
            dependencies: [
                "Store",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // RFC 3261 §22 / RFC 7616 / RFC 8760 digest computations, both sides: no store, so a
        // user agent answers challenges with the code the registrar checks them with.
        .target(
            name: "SIPDigest",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")]
        ),
        .target(
            name: "Registrar",
            dependencies: [
                "SIPCore", "SIPDigest", "Store",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // RFC 3261 §12 dialogs: the base of the presence agent and of a user-agent API.
        .target(
            name: "SIPDialog",
            dependencies: [
                "SIPCore", "SIPTransaction",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // RFC 3863 PIDF, RFC 4479/4480 data model and RPID, RFC 3858 watcher info, LCS states:
        // pure documents (no store), shared by the presence agent and the user agent.
        .target(name: "PresenceDocuments"),
        // RFC 6665/3856/3903/3857-3858: the presence agent and access lists (re-exports
        // PresenceDocuments).
        .target(
            name: "Presence",
            dependencies: [
                "SIPCore", "SIPTransport", "SIPTransaction", "SIPDialog", "PresenceDocuments", "Store",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "Roles",
            dependencies: [
                "SIPCore", "SIPTransport", "SIPTransaction", "SIPDialog", "Presence", "Store", "Registrar", "SIPDigest", "Archive",
                "ArchivePostgres", "StorePostgres",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        .executableTarget(
            name: "sipctl",
            dependencies: [
                "SIPCore", "Store", "StorePostgres", "Registrar", "Archive", "ArchivePostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // A role executable is its policy choice and nothing else (Roles.RoleMain).
        .executableTarget(name: "home-server", dependencies: ["Roles"]),
        .executableTarget(name: "front-end", dependencies: ["Roles"]),
        .executableTarget(name: "forwarding-proxy", dependencies: ["Roles"]),
        // The user-agent API (issue 12): accounts, IM, presence, over the same transport,
        // transaction and dialog layers as the servers. Never imports Store, Roles or a server.
        .target(
            name: "SIPUserAgent",
            dependencies: [
                "SIPCore", "SIPTransport", "SIPTransaction", "SIPDialog", "SIPDigest", "PresenceDocuments",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Examples: small programs that use the library as a package user would.
        .executableTarget(
            name: "echo-bot",
            dependencies: ["SIPUserAgent", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Examples/echo-bot",
            exclude: ["README.md"]
        ),
        .executableTarget(
            name: "presence-watch",
            dependencies: ["SIPUserAgent", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Examples/presence-watch",
            exclude: ["README.md"]
        ),
        // Examples/custom-policy-server (its README): a home server with a routing step of
        // the user's own, an out-of-office auto-reply. The step is a library so tests use it.
        .target(
            name: "OutOfOffice",
            dependencies: ["Roles", "SIPCore", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                           .product(name: "Configuration", package: "swift-configuration")],
            path: "Examples/custom-policy-server/OutOfOffice"
        ),
        .executableTarget(name: "custom-policy-server", dependencies: ["OutOfOffice", "Roles"],
                          path: "Examples/custom-policy-server/Server"),
        // Test helpers shared by test targets (a real dnsmasq for RFC 3263 tests).
        .target(name: "SIPTestSupport", dependencies: [.product(name: "NIOCore", package: "swift-nio")],
                path: "Tests/SIPTestSupport"),
        .testTarget(name: "SIPCoreTests", dependencies: ["SIPCore"], resources: [.copy("Fixtures")]),
        .testTarget(
            name: "SIPTransportTests",
            dependencies: [
                "SIPTransport", "SIPCore", "SIPTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "SIPTransactionTests", dependencies: ["SIPTransaction", "SIPCore"]),
        .testTarget(name: "StoreTests", dependencies: ["Store", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "ArchiveTests", dependencies: ["Archive", "ArchivePostgres", "SIPCore", "SIPTestSupport"]),
        .testTarget(name: "SIPDialogTests", dependencies: ["SIPDialog", "SIPTransaction", "SIPCore"]),
        .testTarget(
            name: "PresenceTests",
            dependencies: ["Presence", "PresenceDocuments", "SIPDialog", "SIPTransaction", "Store", "SIPCore"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "RegistrarTests",
            dependencies: ["Registrar", "SIPDigest", "Store", "SIPCore", .product(name: "Crypto", package: "swift-crypto")]
        ),
        .testTarget(
            name: "RolesTests",
            dependencies: ["Roles", "SIPCore", "SIPTransaction",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(
            name: "SIPUserAgentTests",
            dependencies: [
                "SIPUserAgent", "Roles", "Store", "SIPDigest", "echo-bot", "SIPTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "Roles", "SIPTransport", "SIPTransaction", "Store", "Registrar", "SIPCore", "SIPDialog", "Presence", "Archive",
                "ArchivePostgres", "StorePostgres", "SIPTestSupport", "OutOfOffice",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            exclude: ["Scenarios"]  // sipp XML scenarios, read from the source tree
        ),
    ]
)
