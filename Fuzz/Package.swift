// swift-tools-version: 6.2
// libFuzzer targets, one per parser. Built by scripts/fuzz.sh with `-sanitize=fuzzer,address`; each
// target is a file defining LLVMFuzzerTestOneInput (no main: libFuzzer provides it).
import PackageDescription

let fuzzTargets = ["FuzzRTP", "FuzzRTCP", "FuzzSTUN", "FuzzSDP", "FuzzVP8", "FuzzVP9", "FuzzH264", "FuzzAV1DD"]

let package = Package(
    name: "StarlingFuzz",
    dependencies: [.package(name: "Starling", path: "..")],
    targets: fuzzTargets.map { name in
        .executableTarget(
            name: name,
            dependencies: [.product(name: "StarlingWire", package: "Starling")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        )
    }
)
