import Foundation
import Testing
@testable import StarlingWire

/// The captured offers under Fixtures/sdp (see scripts/capture-sdp-fixtures.py).
enum SDPFixtures {
    static let names = [
        "chromium-camera-mic", "chromium-simulcast", "chromium-datachannel", "aiortc-video-audio", "aiortc-datachannel",
    ]

    static func text(_ name: String) throws -> String {
        let url = try #require(
            Bundle.module.url(forResource: name, withExtension: "sdp", subdirectory: "Fixtures/sdp"),
            "fixture \(name).sdp missing")
        return try String(contentsOf: url, encoding: .utf8)
    }

    static func parsed(_ name: String) throws -> SessionDescription {
        try SessionDescription(parsing: text(name))
    }
}

/// Runs `body` and returns the `WireError` it threw, or nil.
func sdpError(_ text: String) -> WireError? {
    do {
        _ = try SessionDescription(parsing: text)
        return nil
    } catch {
        return error
    }
}

/// The same check the fuzz target makes: parse; if it parses, serialize, re-parse and compare.
/// Returns false on a round-trip mismatch (the fuzz target calls fatalError there).
func sdpFuzzOne(_ bytes: [UInt8]) -> Bool {
    bytes.withUnsafeBytes { raw in
        guard let first = try? SessionDescription(parsing: raw) else { return true }
        guard let second = try? SessionDescription(parsing: first.serialized()) else { return false }
        return first == second && second.serialized() == first.serialized()
    }
}
