import StarlingRouting
import StarlingTransport
import StarlingWire
import Testing

@testable import StarlingServer

/// The offers Starling makes on a subscribing connection and how it reads the answers.
@Suite struct SubscriberNegotiationTests {
    static let fingerprint = SDP.Fingerprint(hashFunction: "sha-256", bytes: [UInt8](repeating: 0xCD, count: 32))
    static let vp8 = SDP.Codec(payloadType: 100, name: "VP8", clockRate: 90000)
    static let h264a = SDP.Codec(
        payloadType: 102, name: "H264", clockRate: 90000,
        formatParameters: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f")
    static let h264b = SDP.Codec(
        payloadType: 102, name: "H264", clockRate: 90000,
        formatParameters: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f")
    static let opus = SDP.Codec(payloadType: 109, name: "opus", clockRate: 48000, channels: 2, formatParameters: "useinbandfec=1")

    static func negotiation() -> SubscriberNegotiation {
        SubscriberNegotiation(
            local: ICECredentials.random(), fingerprint: fingerprint, candidateAddresses: ["127.0.0.1"], port: 40000,
            cname: "starling")
    }

    /// An answer as a browser gives it: every line accepted recvonly (or inactive where offered so), same
    /// payload types, all extensions, `a=setup:active`.
    static func answer(to offer: String) throws -> String {
        let o = try SessionDescription(parsing: offer)
        var a = SessionDescription(origin: SDP.Origin(sessionID: "1", sessionVersion: 1))
        for m in o.media {
            var s = MediaDescription(kind: m.kind, port: 9, proto: m.proto, connection: SDP.Connection(address: "0.0.0.0"))
            s.formats = m.formats
            s.attributes = [
                .iceUfrag("cl1e"), .icePwd("abcdefghijklmnopqrstuvwx"), .fingerprint(fingerprint), .setup(.active),
                .mid(m.mid!), .direction(m.effectiveDirection == .sendonly ? .recvonly : .inactive), .rtcpMux,
            ] + m.extmaps.map { .extmap($0) } + m.attributes.filter {
                if case .rtpmap = $0 { return true }
                if case .fmtp = $0 { return true }
                if case .rtcpFeedback = $0 { return true }
                return false
            }
            a.media.append(s)
        }
        return a.serialized()
    }

    @Test func payloadTypesAreUniquePerCodecConfigurationAcrossTheBundle() throws {
        var n = Self.negotiation()
        var ssrc: UInt32 = 10
        let next = { () -> UInt32 in
            ssrc += 1
            return ssrc
        }
        _ = try n.add(producer: ProducerID(1), kind: .video, codec: Self.vp8, rtx: true, streamID: "a", trackID: "cam", newSSRC: next)
        _ = try n.add(producer: ProducerID(2), kind: .video, codec: Self.h264a, rtx: true, streamID: "b", trackID: "cam", newSSRC: next)
        _ = try n.add(producer: ProducerID(3), kind: .video, codec: Self.h264b, rtx: false, streamID: "c", trackID: "cam", newSSRC: next)
        _ = try n.add(producer: ProducerID(4), kind: .audio, codec: Self.opus, rtx: true, streamID: "a", trackID: "mic", newSSRC: next)
        _ = try n.add(producer: ProducerID(5), kind: .video, codec: Self.vp8, rtx: true, streamID: "d", trackID: "cam", newSSRC: next)
        let made = n.makeOffer()
        let offer = try SessionDescription(parsing: try #require(made).sdp)
        #expect(offer.media.map { $0.mid! } == ["0", "1", "2", "3", "4"])
        #expect(offer.attributes.contains(.iceLite))
        #expect(offer.media.allSatisfy { $0.setup == .actpass && $0.effectiveDirection == .sendonly })
        // The same payload type never means two things; equal configurations share one.
        var meaning: [UInt8: String] = [:]
        for m in offer.media {
            for c in m.codecs {
                let key = "\(c.name)/\(c.formatParameters ?? "")"
                #expect(meaning[c.payloadType] == nil || meaning[c.payloadType] == key, "PT \(c.payloadType)")
                meaning[c.payloadType] = key
            }
        }
        #expect(offer.media[0].payloadTypes == offer.media[4].payloadTypes)
        #expect(offer.media[1].payloadTypes != offer.media[2].payloadTypes, "two H.264 profiles, two payload types")
        #expect(offer.media[3].codecs.map(\.name) == ["opus"], "no RTX for audio")
        #expect(offer.media[0].ssrcGroup(.fid)?.ssrcs.count == 2)
        #expect(offer.media[0].msids == [SDP.MSID(streamID: "a", trackID: "cam")])
    }

    @Test func oneOfferAtATimeAndInactiveLinesAreReused() throws {
        var n = Self.negotiation()
        var ssrc: UInt32 = 100
        let next = { () -> UInt32 in
            ssrc += 1
            return ssrc
        }
        let none = n.makeOffer()
        #expect(none == nil, "nothing to offer yet")
        _ = try n.add(producer: ProducerID(1), kind: .video, codec: Self.vp8, rtx: true, streamID: "a", trackID: "cam", newSSRC: next)
        let firstOffer = n.makeOffer()
        let first = try #require(firstOffer)
        // A change while the offer is out waits for the answer.
        _ = try n.add(producer: ProducerID(2), kind: .audio, codec: Self.opus, rtx: false, streamID: "a", trackID: "mic", newSSRC: next)
        let waiting = n.makeOffer()
        #expect(waiting == nil)
        let accepted = try n.apply(answer: try Self.answer(to: first.sdp), codecKinds: [ProducerID(1): .vp8, ProducerID(2): .opus])
        #expect(accepted.map(\.mid) == ["0"])
        let p = try #require(accepted.first?.parameters)
        #expect(p.codec.kind == .vp8 && p.rtxSSRC != nil && p.codec.rtxPayloadType != nil && p.nack)
        #expect(p.extensions.mid == 1 && p.extensions.transportWideCC == 3)
        #expect(n.remote?.role == .server, "an active answerer makes us the DTLS server")
        n.consuming(mid: "0", consumer: ConsumerID(7))
        let secondOffer = n.makeOffer()
        let second = try #require(secondOffer)
        #expect(second.revision == first.revision + 1)
        let accepted2 = try n.apply(answer: try Self.answer(to: second.sdp), codecKinds: [ProducerID(1): .vp8, ProducerID(2): .opus])
        #expect(accepted2.map(\.mid) == ["1"], "only the new line is consumed")
        // Removing the video makes its line inactive; a new video track reuses mid 0 with new SSRCs.
        let removed = n.remove(producer: ProducerID(1))
        #expect(removed == ConsumerID(7))
        let thirdOffer = n.makeOffer()
        let third = try SessionDescription(parsing: try #require(thirdOffer).sdp)
        #expect(third.media[0].effectiveDirection == .inactive && third.media[0].ssrcAttributes.isEmpty)
        _ = try n.apply(answer: try Self.answer(to: third.serialized()), codecKinds: [:])
        let oldSSRC = try SessionDescription(parsing: second.sdp).media[0].ssrcAttributes.first?.ssrc
        let mid = try n.add(producer: ProducerID(3), kind: .video, codec: Self.vp8, rtx: true, streamID: "b", trackID: "cam", newSSRC: next)
        #expect(mid == "0")
        let fourthOffer = n.makeOffer()
        let fourth = try SessionDescription(parsing: try #require(fourthOffer).sdp)
        #expect(fourth.media.count == 2 && fourth.media[0].effectiveDirection == .sendonly)
        #expect(fourth.media[0].ssrcAttributes.first?.ssrc != oldSSRC)
    }

    @Test func answersThatDoNotFitAreRefused() throws {
        var n = Self.negotiation()
        #expect(throws: SubscriberNegotiation.Failure.self, "no offer is out") { try n.apply(answer: "v=0\r\n", codecKinds: [:]) }
        _ = try n.add(producer: ProducerID(1), kind: .video, codec: Self.vp8, rtx: false, streamID: "a", trackID: "c") { 5 }
        let made = n.makeOffer()
        let offer = try #require(made)
        #expect(throws: SubscriberNegotiation.Failure.self) { try n.apply(answer: "not sdp", codecKinds: [:]) }
        // Wrong number of m-lines.
        var extra = try SessionDescription(parsing: try Self.answer(to: offer.sdp))
        extra.media.append(extra.media[0])
        #expect(throws: SubscriberNegotiation.Failure.self) { try n.apply(answer: extra.serialized(), codecKinds: [:]) }
        // The only line rejected: nothing to consume and no transport yet (the client's credentials are not
        // learned from a rejected line).
        var rejected = try SessionDescription(parsing: try Self.answer(to: offer.sdp))
        rejected.media[0].port = 0
        #expect(try n.apply(answer: rejected.serialized(), codecKinds: [ProducerID(1): .vp8]).isEmpty)
        #expect(n.remote == nil && n.pendingRevision == nil)
    }

    static func dataNegotiation() -> SubscriberNegotiation {
        SubscriberNegotiation(
            local: ICECredentials.random(), fingerprint: fingerprint, candidateAddresses: ["127.0.0.1"], port: 40000,
            cname: "starling", dataChannels: true, maxMessageSize: 100_000)
    }

    /// RFC 8841: the data line goes first in every offer, with our SCTP port and limit; the client's port and
    /// limit come from its answer (65536 when it gives none).
    @Test func dataLineIsOfferedFirstAndReadFromTheAnswer() throws {
        var n = Self.dataNegotiation()
        let made = n.makeOffer()
        let first = try #require(made, "a data-only offer is due at once")
        let offer = try SessionDescription(parsing: first.sdp)
        #expect(offer.media.count == 1)
        let m = offer.media[0]
        #expect(m.kind == .application && m.proto == "UDP/DTLS/SCTP" && m.formats == ["webrtc-datachannel"])
        #expect(m.mid == "dc" && m.sctpPort == 5000 && m.maxMessageSize == 100_000 && m.setup == .actpass)
        #expect(offer.bundleGroups.first?.mids == ["dc"])
        var answer = try SessionDescription(parsing: try Self.answer(to: first.sdp))
        answer.media[0].attributes += [.sctpPort(5001), .maxMessageSize(262_144)]
        #expect(try n.apply(answer: answer.serialized(), codecKinds: [:]).isEmpty)
        let accepted = try #require(n.data)
        #expect(accepted.remotePort == 5001 && accepted.remoteMaxMessageSize == 262_144 && accepted.state == .accepted)
        #expect(n.remote?.role == .server)

        // A track later: the data line stays first, media after it, all bundled.
        let mid = try n.add(producer: ProducerID(1), kind: .video, codec: Self.vp8, rtx: true, streamID: "s", trackID: "t") { 9 }
        let madeSecond = n.makeOffer()
        let second = try #require(madeSecond)
        let again = try SessionDescription(parsing: second.sdp)
        #expect(again.media.map(\.mid) == ["dc", mid] && again.bundleGroups.first?.mids == ["dc", mid])
        let consumed = try n.apply(answer: try Self.answer(to: second.sdp), codecKinds: [ProducerID(1): .vp8])
        #expect(consumed.map(\.mid) == [mid])
    }

    /// A client without data channels rejects the line: no transport until a media line is accepted, and later
    /// offers keep the line in place with port 0 (RFC 8829 §5.2.2).
    @Test func rejectedDataLineStaysRejected() throws {
        var n = Self.dataNegotiation()
        let made = n.makeOffer()
        let first = try #require(made)
        var answer = try SessionDescription(parsing: try Self.answer(to: first.sdp))
        answer.media[0].port = 0
        #expect(try n.apply(answer: answer.serialized(), codecKinds: [:]).isEmpty)
        #expect(n.data?.state == .rejected && n.remote == nil)
        _ = try n.add(producer: ProducerID(1), kind: .audio, codec: Self.opus, rtx: false, streamID: "s", trackID: "t") { 9 }
        let madeSecond = n.makeOffer()
        let second = try SessionDescription(parsing: try #require(madeSecond).sdp)
        #expect(second.media[0].port == 0 && second.media[0].mid == "dc" && second.bundleGroups.first?.mids == ["0"])
    }
}

/// A subscribing connection stays within what a client may answer: at most `maxLines` media m-lines (the
/// room's track limit), and payload types from both dynamic ranges before it gives up.
@Suite struct SubscriberNegotiationBoundsTests {
    typealias T = SubscriberNegotiationTests

    @Test func linesAreBoundedAndTheOfferAndAnswerFitTheSDPLimit() throws {
        var n = SubscriberNegotiation(
            local: ICECredentials.random(), fingerprint: T.fingerprint, candidateAddresses: ["127.0.0.1"], port: 40000,
            cname: "starling", maxLines: 48)
        var ssrc: UInt32 = 10
        let next = { () -> UInt32 in
            ssrc += 1
            return ssrc
        }
        for i in 0..<48 {
            _ = try n.add(
                producer: ProducerID(i + 1), kind: i % 2 == 0 ? .video : .audio, codec: i % 2 == 0 ? T.h264a : T.opus, rtx: true,
                streamID: "PA_\(i)", trackID: "TR_\(i)", newSSRC: next)
        }
        #expect(throws: SubscriberNegotiation.Failure.self) {
            try n.add(producer: ProducerID(99), kind: .video, codec: T.vp8, rtx: true, streamID: "PA_x", trackID: "TR_x", newSSRC: next)
        }
        // A removed track's line is reused, so the next track of that kind fits again.
        _ = n.remove(producer: ProducerID(1))
        _ = try n.add(producer: ProducerID(100), kind: .video, codec: T.vp8, rtx: true, streamID: "PA_y", trackID: "TR_y", newSSRC: next)
        let made = n.makeOffer()
        let offer = try #require(made).sdp
        let answer = try T.answer(to: offer)
        let limit = RoomLimits().sdpBytes
        #expect(offer.utf8.count < limit && answer.utf8.count < limit, "offer \(offer.utf8.count), answer \(answer.utf8.count) bytes")
    }

    @Test func payloadTypesComeFromBothDynamicRangesThenRunOut() throws {
        var n = T.negotiation()
        var ssrc: UInt32 = 10
        let next = { () -> UInt32 in
            ssrc += 1
            return ssrc
        }
        var types: Set<UInt8> = []
        var failed = 0
        for i in 0..<40 {
            let codec = SDP.Codec(payloadType: 102, name: "H264", clockRate: 90000, formatParameters: "profile-level-id=42e0\(i)")
            do {
                _ = try n.add(producer: ProducerID(i + 1), kind: .video, codec: codec, rtx: true, streamID: "s", trackID: "t\(i)", newSSRC: next)
            } catch {
                failed += 1
            }
        }
        let made = n.makeOffer()
        let offer = try SessionDescription(parsing: try #require(made).sdp)
        for m in offer.media { types.formUnion(m.payloadTypes) }
        #expect(types.allSatisfy { (96...127).contains($0) || (35...63).contains($0) })
        #expect(types.count == 60 && failed == 10, "\(types.count) payload types, \(failed) refused")
    }
}
