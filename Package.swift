// swift-tools-version: 6.2
// Starling: a WebRTC Selective Forwarding Unit. See docs/ARCHITECTURE.md for the module map.
import PackageDescription

// Swift 6 language mode (the default for tools 6.2) gives complete strict concurrency checking.
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "Starling",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "starling", targets: ["starling"]),
        .library(name: "StarlingWire", targets: ["StarlingWire"]),
        .library(name: "StarlingWireChecks", targets: ["StarlingWireChecks"]),
        .library(name: "StarlingRoutingChecks", targets: ["StarlingRoutingChecks"]),
        .library(name: "StarlingTransport", targets: ["StarlingTransport"]),
        .library(name: "StarlingRouting", targets: ["StarlingRouting"]),
        .library(name: "StarlingServer", targets: ["StarlingServer"]),
        .library(name: "StarlingClient", targets: ["StarlingClient"]),
        .library(name: "StarlingCodecs", targets: ["StarlingCodecs"]),
        .library(name: "StarlingLoad", targets: ["StarlingLoad"]),
        .executable(name: "starling-load", targets: ["starling-load"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0", traits: ["YAML"]),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        // The load tool's client of Janus's HTTP API (already resolved for Hummingbird's test client).
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    ],
    targets: [
        // System-library shims, found with pkg-config; installed by `make deps`.
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSRTP", pkgConfig: "libsrtp2", providers: [.apt(["libsrtp2-dev"])]),
        .systemLibrary(name: "CUsrsctp", pkgConfig: "usrsctp", providers: [.apt(["libusrsctp-dev"])]),
        .systemLibrary(name: "CVPX", pkgConfig: "vpx", providers: [.apt(["libvpx-dev"])]),
        .systemLibrary(name: "COpus", pkgConfig: "opus", providers: [.apt(["libopus-dev"])]),

        // Bytes <-> values. No NIO, no clocks, no actors.
        .target(name: "StarlingWire", dependencies: ["COpenSSL"], swiftSettings: strict),
        // The invariants every Wire parser keeps on arbitrary bytes; run by the unit tests and the fuzz targets.
        .target(name: "StarlingWireChecks", dependencies: ["StarlingWire"], swiftSettings: strict),
        // Sans-IO transport cores: ICE-lite, DTLS, SRTP, SCTP, demux.
        .target(
            name: "StarlingTransport",
            dependencies: ["StarlingWire", "COpenSSL", "CSRTP", "CUsrsctp"],
            swiftSettings: strict
        ),
        // Sans-IO routing: Router, Producer, Consumer, feedback components.
        .target(name: "StarlingRouting", dependencies: ["StarlingWire", "StarlingTransport"], swiftSettings: strict),
        // The whole receive and forward path on arbitrary input, with its invariants; run by the unit tests and
        // the router fuzz target.
        .target(
            name: "StarlingRoutingChecks", dependencies: ["StarlingRouting", "StarlingTransport", "StarlingWire"],
            swiftSettings: strict),
        // Client-side WebRTC peer on the same cores (tests, load tool).
        // JSON values shared by the server's APIs and the Swift clients.
        .target(name: "StarlingAPI", swiftSettings: strict),
        .target(
            name: "StarlingClient",
            dependencies: [
                "StarlingWire", "StarlingTransport", "StarlingAPI",
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
            ],
            swiftSettings: strict),
        // libvpx (VP8) and libopus wrappers, VP8 RTP packetization and synthetic test media: for the load tool
        // and for checking what subscribers receive. Not on the forwarding path.
        .target(name: "StarlingCodecs", dependencies: ["CVPX", "COpus", "StarlingWire"], swiftSettings: strict),
        // NIO socket addresses <-> transport addresses, shared by the server and the load tool.
        .target(
            name: "StarlingNIO", dependencies: ["StarlingWire", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strict),
        // starling-load: publishers and subscribers of real VP8/Opus media against Starling or Janus, with
        // per-second quality and cost figures (docs/LOAD.md).
        .target(
            name: "StarlingLoad",
            dependencies: [
                "StarlingClient", "StarlingCodecs", "StarlingRouting", "StarlingTransport", "StarlingWire", "StarlingAPI",
                "StarlingNIO",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "starling-load",
            dependencies: ["StarlingLoad", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict),
        // glibc malloc tuning at load and malloc_trim (malloc.h is not in Swift's Glibc module).
        .target(name: "CMallocTuning"),
        // The IO: NIO sockets, rooms, HTTP/WebSocket APIs, config, lifecycle.
        .target(
            name: "StarlingServer",
            dependencies: [
                "StarlingWire", "StarlingTransport", "StarlingRouting", "StarlingAPI", "StarlingNIO", "CMallocTuning",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "starling",
            dependencies: [
                "StarlingServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),

        .testTarget(
            name: "ShimTests",
            dependencies: ["COpenSSL", "CSRTP", "CVPX", "COpus"]
        ),
        // Helpers shared by the test targets (a seeded generator for reproducible property tests).
        .target(name: "StarlingTestSupport", path: "Tests/StarlingTestSupport"),
        // A synthetic VP8 simulcast publisher and a checking subscriber, sans-IO: the routing simulation
        // runs them on a virtual network, the server tests over real sockets.
        .target(
            name: "StarlingMediaTestSupport",
            dependencies: ["StarlingRouting", "StarlingWire", "StarlingTransport", "StarlingTestSupport"],
            path: "Tests/StarlingMediaTestSupport"),
        .testTarget(
            name: "StarlingWireTests", dependencies: ["StarlingWire", "StarlingWireChecks", "StarlingTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(name: "StarlingLoadTests", dependencies: ["StarlingLoad", "StarlingCodecs", "StarlingWire", "StarlingTransport"]),
        .testTarget(name: "StarlingCodecsTests", dependencies: ["StarlingCodecs", "StarlingWire", "StarlingTestSupport"]),
        .testTarget(
            name: "StarlingTransportTests",
            dependencies: [
                "StarlingTransport", "StarlingWire", "COpenSSL", "StarlingTestSupport", "StarlingRouting", "StarlingMediaTestSupport",
            ]),
        .testTarget(
            name: "StarlingRoutingTests",
            dependencies: [
                "StarlingRouting", "StarlingWire", "StarlingTransport", "StarlingTestSupport", "StarlingMediaTestSupport",
                "StarlingRoutingChecks",
            ]),
        .testTarget(
            name: "StarlingServerTests",
            dependencies: [
                "StarlingServer", "StarlingClient", "StarlingTransport", "StarlingWire", "StarlingRouting",
                "StarlingMediaTestSupport", "StarlingAPI", "StarlingNIO",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdWSTesting", package: "hummingbird-websocket"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
    ]
)
