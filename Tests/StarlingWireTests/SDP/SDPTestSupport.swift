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
