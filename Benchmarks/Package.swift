// swift-tools-version: 6.1
// Starling benchmarks (ordo-one/benchmark): time and malloc counts of the wire parsers, the transport path
// (SRTP) and the forwarding path (Router). Run with `make bench` (or `swift package benchmark` here). The data-channel
// relay beside media (DataRelayBenchmark, a plain executable) runs with `make bench-data`.
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
        // A plain executable (not an ordo-one benchmark, see its main.swift): `make bench-data`.
        .executableTarget(
            name: "DataRelayBenchmark",
            dependencies: [
                .product(name: "StarlingRouting", package: "Starling"),
                .product(name: "StarlingTransport", package: "Starling"),
                .product(name: "StarlingWire", package: "Starling"),
            ],
            path: "Sources/DataRelayBenchmark"
        ),
        .executableTarget(
            name: "RoutingBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "StarlingRouting", package: "Starling"),
                .product(name: "StarlingTransport", package: "Starling"),
            ],
            path: "Benchmarks/RoutingBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
