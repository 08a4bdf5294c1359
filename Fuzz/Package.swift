// swift-tools-version: 6.2
// libFuzzer targets, one per parser. Built by scripts/fuzz.sh with `-sanitize=fuzzer,address`. Each target
// folder holds <Target>.swift defining `fuzzOne` (exported as LLVMFuzzerTestOneInput), which runs one of the
// `WireInvariants` checks of the StarlingWireChecks library (shared with the unit tests) and traps on a
// broken invariant, and a one-line main.swift handing it to libFuzzer through FuzzDriver (SwiftPM gives
// executables their own main, so libFuzzer's main cannot be used).
import PackageDescription

/// One executable per parser, and FuzzRouter for the whole receive and forward path; each has a folder under Sources/ (scripts/fuzz.sh runs every folder there).
let fuzzTargets = ["FuzzAV1DD", "FuzzDCEP", "FuzzH264", "FuzzJWT", "FuzzRFC4571", "FuzzRouter", "FuzzRTCP", "FuzzRTP", "FuzzSDP", "FuzzSTUN", "FuzzVP8", "FuzzVP9"]

let package = Package(
    name: "StarlingFuzz",
    dependencies: [.package(name: "Starling", path: "..")],
    targets: [.target(name: "FuzzDriver", path: "Driver/FuzzDriver")]
        + fuzzTargets.map { name in
            .executableTarget(
                name: name,
                dependencies: [
                    "FuzzDriver",
                    .product(name: name == "FuzzRouter" ? "StarlingRoutingChecks" : "StarlingWireChecks", package: "Starling"),
                ]
            )
        }
)
