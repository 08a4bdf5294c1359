import Foundation
import Testing

@testable import StarlingServer

/// Decoding `/rtc` messages: every request type, and every kind of bad input gets an error naming the problem
/// (carrying the request's id when it could be read), never a crash.
@Suite struct SignalingMessageTests {
    static func decode(_ text: String, maxBytes: Int = SignalingCodec.defaultMaxMessageBytes) -> Result<SignalingEnvelope, SignalingError> {
        SignalingCodec.decode(text, maxBytes: maxBytes)
    }

    static func error(_ text: String) throws -> SignalingError {
        guard case .failure(let e) = decode(text) else {
            Issue.record("decoded: \(text)")
            throw CancellationError()
        }
        return e
    }

    @Test func everyRequestType() throws {
        let cases: [(String, SignalingRequest)] = [
            (#"{"type":"join","id":1,"token":"a.b.c"}"#, .join(token: "a.b.c", reconnect: false)),
            (#"{"type":"join","id":1,"token":"a.b.c","reconnect":true}"#, .join(token: "a.b.c", reconnect: true)),
            (#"{"type":"join","id":1,"token":"a.b.c","data":true}"#, .join(token: "a.b.c", reconnect: false, data: true)),
            (
                #"{"type":"publish","id":"p1","sdp":"v=0","tracks":[{"mid":"0","source":"microphone"},{"mid":"1","source":"camera","name":"Cam"}]}"#,
                .publish(
                    sdp: "v=0",
                    tracks: [.init(mid: "0", source: .microphone, name: nil), .init(mid: "1", source: .camera, name: "Cam")])
            ),
            (#"{"type":"unpublish","id":2,"trackId":"T1"}"#, .unpublish(trackID: "T1")),
            (#"{"type":"mute","id":3,"trackId":"T1","muted":true}"#, .mute(trackID: "T1", muted: true)),
            (#"{"type":"subscriberAnswer","id":4,"sdp":"v=0","revision":2}"#, .subscriberAnswer(sdp: "v=0", revision: 2)),
            (
                #"{"type":"setSubscription","id":5,"trackId":"T2","maxSpatialLayer":1,"paused":false}"#,
                .setSubscription(trackID: "T2", maxSpatialLayer: 1, maxTemporalLayer: nil, paused: false)
            ),
            (#"{"type":"setSubscription","id":6,"trackId":"T2","maxTemporalLayer":null}"#,
             .setSubscription(trackID: "T2", maxSpatialLayer: nil, maxTemporalLayer: nil, paused: nil)),
            (#"{"type":"leave","id":7}"#, .leave),
            (#"{"type":"ping","id":8,"extra":"ignored"}"#, .ping),
        ]
        for (text, expected) in cases {
            #expect(try Self.decode(text).get().request == expected, "\(text)")
        }
        #expect(try Self.decode(#"{"type":"ping","id":"abc"}"#).get().id == .string("abc"))
        #expect(try Self.decode(#"{"type":"ping","id":42}"#).get().id == .number(42))
    }

    @Test func badJSONAndShapes() throws {
        for text in ["", "{", "not json", "[1,2]", "\"text\"", "42", "null", #"{"type":"ping","id":1"#] {
            #expect(try Self.error(text).code == .badJSON, "\(text)")
        }
        #expect(try Self.error("[1]").message.contains("JSON object"))
    }

    @Test func ids() throws {
        let missing = try Self.error(#"{"type":"ping"}"#)
        #expect(missing.code == .invalidField && missing.message.contains("'id'") && missing.id == nil)
        for bad in [#""""#, "true", "1.5", "{}", "[]", "\"\(String(repeating: "x", count: 200))\""] {
            let e = try Self.error(#"{"type":"ping","id":\#(bad)}"#)
            #expect(e.code == .invalidField && e.message.contains("'id'"), "\(bad)")
        }
    }

    @Test func typesAndFields() throws {
        let unknown = try Self.error(#"{"type":"dance","id":9}"#)
        #expect(unknown.code == .unknownType && unknown.id == .number(9) && unknown.message.contains("dance"))
        let noType = try Self.error(#"{"id":9}"#)
        #expect(noType.code == .invalidField && noType.message.contains("'type'") && noType.id == .number(9))
        #expect(try Self.error(#"{"type":5,"id":9}"#).message.contains("'type' must be a string"))

        let checks: [(String, String)] = [
            (#"{"type":"join","id":1}"#, "'token' is missing"),
            (#"{"type":"join","id":1,"token":7}"#, "'token' must be a string"),
            (#"{"type":"join","id":1,"token":""}"#, "'token' must not be empty"),
            (#"{"type":"publish","id":1,"sdp":"v=0"}"#, "'tracks' is missing"),
            (#"{"type":"publish","id":1,"sdp":"v=0","tracks":{}}"#, "'tracks' must be an array"),
            (#"{"type":"publish","id":1,"sdp":"v=0","tracks":[5]}"#, "'tracks[0]' must be an object"),
            (#"{"type":"publish","id":1,"sdp":"v=0","tracks":[{"source":"camera"}]}"#, "'tracks[0].mid' is missing"),
            (#"{"type":"publish","id":1,"sdp":"v=0","tracks":[{"mid":"0","source":"radio"}]}"#, "'tracks[0].source' must be one of"),
            (#"{"type":"publish","id":1,"sdp":"v=0","tracks":[{"mid":"0","source":"camera","name":3}]}"#, "'tracks[0].name'"),
            (#"{"type":"mute","id":1,"trackId":"T"}"#, "'muted' is missing"),
            (#"{"type":"mute","id":1,"trackId":"T","muted":1}"#, "'muted' must be true or false"),
            (#"{"type":"subscriberAnswer","id":1,"sdp":"v=0"}"#, "'revision' is missing"),
            (#"{"type":"subscriberAnswer","id":1,"sdp":"v=0","revision":0}"#, "'revision' must be an integer in 1..."),
            (#"{"type":"subscriberAnswer","id":1,"sdp":"v=0","revision":"2"}"#, "'revision' must be an integer"),
            (#"{"type":"setSubscription","id":1,"trackId":"T","maxSpatialLayer":3}"#, "'maxSpatialLayer' must be an integer in 0...2"),
            (#"{"type":"setSubscription","id":1,"trackId":"T","maxSpatialLayer":true}"#, "'maxSpatialLayer'"),
            (#"{"type":"setSubscription","id":1,"trackId":"T","paused":"yes"}"#, "'paused' must be true or false"),
        ]
        for (text, expected) in checks {
            let e = try Self.error(text)
            #expect(e.code == .invalidField && e.message.contains(expected) && e.id == .number(1), "\(text) -> \(e)")
        }
    }

    @Test func sizeLimits() throws {
        let big = #"{"type":"join","id":1,"token":"\#(String(repeating: "a", count: 70_000))"}"#
        #expect(try Self.error(big).code == .tooLarge)
        guard case .failure(let e) = Self.decode(#"{"type":"ping","id":1}"#, maxBytes: 10) else {
            Issue.record("a configured smaller limit applies")
            return
        }
        #expect(e.code == .tooLarge && e.message.contains("10"))
        let longToken = #"{"type":"join","id":1,"token":"\#(String(repeating: "a", count: 9000))"}"#
        #expect(try Self.error(longToken).message.contains("'token' is longer than"))
    }

    @Test func deepNestingAndRandomInputNeverCrash() throws {
        let deep = String(repeating: "[", count: 30_000) + String(repeating: "]", count: 30_000)
        #expect(try Self.error(deep).code == .badJSON, "too deep, or not an object")
        let nested = #"{"type":"ping","id":1,"x":"# + String(repeating: "{\"a\":", count: 5000) + "1" + String(repeating: "}", count: 5000) + "}"
        _ = Self.decode(nested)
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array(#"{}[]":,0123456789truefalsnl \"idtypejoinpublishsdp"#)
        for _ in 0..<2000 {
            let length = Int.random(in: 0..<80, using: &generator)
            let text = String((0..<length).map { _ in alphabet.randomElement(using: &generator)! })
            _ = Self.decode(text)
        }
    }

    @Test func encodedReplies() throws {
        let response = SignalingCodec.response(id: .number(3), result: ["time": 5])
        let r = try #require(try JSONSerialization.jsonObject(with: Data(response.utf8)) as? [String: Any])
        #expect(r["type"] as? String == "response" && r["id"] as? Int == 3)
        let error = SignalingCodec.error(SignalingError(code: .forbidden, message: "no publish grant", id: .string("x")))
        let e = try #require(try JSONSerialization.jsonObject(with: Data(error.utf8)) as? [String: Any])
        #expect(e["type"] as? String == "error" && e["id"] as? String == "x")
        #expect((e["error"] as? [String: Any])?["code"] as? String == "forbidden")
        let event = SignalingCodec.event("participantLeft", ["participantId": "p1"])
        #expect(event.contains(#""type":"participantLeft""#))
    }
}
