// swift-tools-version: 6.1
// Starling benchmarks (ordo-one/benchmark): time and malloc counts of the wire parsers, and later of the
// transport and forwarding paths. Run with `make bench` (or `swift package benchmark` here).
import PackageDescription

let package = Package(
    name: "StarlingBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Starling", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "WireBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "StarlingWire", package: "Starling"),
            ],
            path: "Benchmarks/WireBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .target(name: "CSRTPBaseline", path: "Sources/CSRTPBaseline", linkerSettings: [.linkedLibrary("srtp2")]),
        .executableTarget(
            name: "TransportBenchmarks",
            dependencies: [
                "CSRTPBaseline",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "StarlingTransport", package: "Starling"),
            ],
            path: "Benchmarks/TransportBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
