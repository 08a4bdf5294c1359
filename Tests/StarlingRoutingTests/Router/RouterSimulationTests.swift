@testable import StarlingMediaTestSupport
import StarlingRouting
import StarlingTransport
import StarlingWire
import Testing

/// Whole rooms on the simulated network (deterministic simulations).
@Suite struct RouterSimulationTests {
    /// Every subscriber asks for a different highest layer: each gets a continuous stream that settles on
    /// it, switching only at keyframes; moving a preference down mid-stream moves the stream down.
    @Test func subscribersSettleOnTheirPreferredLayers() throws {
        let sim = RoomSimulation(seed: 1)
        let (publisher, producer) = try sim.addPublisher(ssrcBase: 1000)
        let wanted: [Int?] = [nil, 2, 1, 1, 0, 0]
        var consumers: [ConsumerID] = []
        for (i, w) in wanted.enumerated() {
            consumers.append(try sim.addSubscriber(to: producer, ssrc: 5000 + UInt32(i) * 10, preferredSpatialLayer: w).1)
        }
        sim.run(for: .seconds(12))
        for (i, s) in sim.subscribers.enumerated() {
            let expected = wanted[i] ?? 2
            #expect(s.layers(in: (sim.now - .seconds(2))..<sim.now) == [expected], "subscriber \(i)")
            #expect(s.switchesNotOnKeyframe == 0, "subscriber \(i)")
            #expect(s.discontinuities == 0, "subscriber \(i)")
            #expect(s.foreignPackets == 0)
        }
        // Subscriber 0 moves down to layer 0: within 2 s it receives layer 0 only.
        try sim.routers[0].setPreferences(consumers[0], spatialLayer: 0, temporalLayer: nil, paused: false, now: sim.now)
        let changed = sim.now
        sim.run(for: .seconds(4))
        let s0 = sim.subscribers[0]
        #expect(s0.layers(in: (changed + .seconds(2))..<sim.now) == [0])
        #expect(s0.switchesNotOnKeyframe == 0)
        #expect(s0.discontinuities == 0)
        #expect(sim.outputs[0].sequenceGaps == 0)
        // Keyframe requests were coalesced: far fewer PLIs than requests from six consumers.
        #expect(publisher.plisReceived > 0)
        #expect(publisher.plisReceived < 20)
    }

    /// VP8 temporal layers dropped per subscriber (TID pattern 0 2 1 2): the frames each receives carry
    /// consecutive picture IDs and gap-free sequence numbers; TL0PICIDX only ever steps by one; the frame
    /// rate is what the temporal layer allows. Then a subscriber raises its temporal layer mid-stream.
    @Test func temporalLayersAreDroppedWithoutGaps() throws {
        let sim = RoomSimulation(seed: 5)
        let (_, producer) = try sim.addPublisher(ssrcBase: 3000)
        let temporal: [Int?] = [0, 1, nil]
        var consumers: [ConsumerID] = []
        for (i, t) in temporal.enumerated() {
            let (_, c) = try sim.addSubscriber(to: producer, ssrc: 7000 + UInt32(i) * 10, preferredSpatialLayer: 1)
            try sim.routers[0].setPreferences(c, spatialLayer: 1, temporalLayer: t, paused: false, now: sim.now)
            consumers.append(c)
        }
        sim.run(for: .seconds(6))
        let window = (sim.now - .seconds(3))..<(sim.now - .milliseconds(200))
        for (i, s) in sim.subscribers.enumerated() {
            let frames = s.orderedFrames.filter { window.contains($0.firstArrival) }
            #expect(frames.allSatisfy { $0.isComplete }, "subscriber \(i)")
            // 2.8 s at 30 frames/s: TID 0 is every fourth frame, TID 0-1 every second.
            let expected = [21, 42, 84][i]
            #expect(abs(frames.count - expected) <= 3, "subscriber \(i): \(frames.count) frames in 2.8 s")
            var previous: UInt16?
            var gaps = 0
            for f in frames {
                guard let id = f.pictureID else { continue }
                if let p = previous, id != (p &+ 1) & 0x7FFF { gaps += 1 }
                previous = id
            }
            #expect(gaps == 0, "subscriber \(i): picture ID gaps")
            #expect(s.discontinuities == 0, "subscriber \(i)")
        }
        // Subscriber 0 raises its temporal layer: more frames, still without gaps.
        try sim.routers[0].setPreferences(consumers[0], spatialLayer: 1, temporalLayer: 2, paused: false, now: sim.now)
        let changed = sim.now
        sim.run(for: .seconds(2))
        let after = sim.subscribers[0].orderedFrames.filter { $0.firstArrival >= changed + .milliseconds(500) }
        #expect(after.count >= 40)
        #expect(sim.subscribers[0].discontinuities == 0)
        #expect(sim.outputs.allSatisfy { $0.sequenceGaps == 0 })
    }

    /// Six subscribers behind different bandwidth caps: each one's send-side estimate (transport-cc
    /// feedback, probing) settles it on the highest layer its link carries, switching only at keyframes;
    /// lowering a cap mid-stream moves the subscriber down within 2 s.
    @Test func subscribersSettleOnTheLayerTheirBandwidthAllows() throws {
        let sim = RoomSimulation(seed: 11)
        let (_, producer) = try sim.addPublisher(ssrcBase: 1000)
        // Layers: about 0.16, 0.53 and 1.6 Mbit/s on the wire.
        let caps = [6_000_000, 3_000_000, 1_300_000, 1_000_000, 450_000, 300_000]
        let expected = [2, 2, 1, 1, 0, 0]
        for (i, cap) in caps.enumerated() {
            let (s, _) = try sim.addSubscriber(to: producer, ssrc: 5000 + UInt32(i) * 10)
            sim.network.setLink(from: 0, to: s.node, SimNetwork.Link(delay: .milliseconds(20), capacity: cap))
        }
        sim.run(for: .seconds(20))
        for (i, s) in sim.subscribers.enumerated() {
            #expect(s.layers(in: (sim.now - .seconds(4))..<sim.now) == [expected[i]], "subscriber \(i), cap \(caps[i])")
            #expect(s.switchesNotOnKeyframe == 0, "subscriber \(i)")
        }
        // Congested links lose packets; the router itself never leaves a gap in a stream.
        #expect(sim.outputs[0].sequenceGaps == 0)
        // Subscriber 0's link drops to 450 kbit/s: within 2 s it has moved down from layer 2, and it settles
        // on layer 0.
        let s0 = sim.subscribers[0]
        sim.network.setLink(from: 0, to: s0.node, SimNetwork.Link(delay: .milliseconds(20), capacity: 450_000))
        let lowered = sim.now
        sim.run(for: .seconds(6))
        let after = s0.frames.values.filter { $0.firstArrival >= lowered + .seconds(2) && $0.isComplete }
        #expect(!after.isEmpty)
        #expect(!after.contains { $0.layer == 2 }, "layer 2 frames 2 s after the cap was lowered")
        #expect(s0.layers(in: (sim.now - .seconds(2))..<sim.now) == [0])
        #expect(s0.switchesNotOnKeyframe == 0)
        #expect(sim.outputs[0].sequenceGaps == 0)
    }

    /// 5% random loss and 50 ms RTT on every link: NACK/RTX on both legs recovers at least 99% of the
    /// frames at every subscriber.
    @Test func lossyLinksRecoverNinetyNinePercentOfFrames() throws {
        let sim = RoomSimulation(seed: 7)
        sim.network.defaultLink = SimNetwork.Link(delay: .milliseconds(25), jitter: .milliseconds(2), loss: 0.05)
        let (publisher, producer) = try sim.addPublisher(ssrcBase: 2000)
        for i in 0..<4 {
            try sim.addSubscriber(to: producer, ssrc: 6000 + UInt32(i) * 10, preferredSpatialLayer: i % 3)
        }
        sim.run(for: .seconds(20))
        let warmup = Instant.zero + .seconds(2)
        for (i, s) in sim.subscribers.enumerated() {
            // Frames whose recovery window has not passed yet are not judged.
            let judged = s.frames.values.filter { $0.firstArrival >= warmup && $0.firstArrival < sim.now - .seconds(1) }
            let complete = judged.filter(\.isComplete).count
            let ratio = Double(complete) / Double(max(judged.count, 1))
            #expect(judged.count > 400, "subscriber \(i) judged \(judged.count) frames")
            #expect(ratio >= 0.99, "subscriber \(i): \(complete)/\(judged.count) complete")
            #expect(s.retransmissions > 0)
            #expect(s.switchesNotOnKeyframe == 0)
        }
        #expect(publisher.nacksReceived > 0, "losses on the publisher's leg are NACKed upstream")
        #expect(publisher.retransmitted > 0)
    }

    /// Several rooms with publishers joining and leaving, consumers removed mid-stream and a publisher
    /// restarting with new SSRCs: nothing crosses rooms, and nothing is left behind.
    @Test func roomsChurnWithoutCrossTalkOrStaleState() throws {
        let sim = RoomSimulation(seed: 3, rooms: 3)
        var producers: [ProducerID] = []
        for room in 0..<3 {
            // The same SSRCs in every room: rooms must still not mix them.
            let (_, p) = try sim.addPublisher(room: room, ssrcBase: 7000, bitrates: room == 0 ? [300_000] : [100_000, 300_000])
            producers.append(p)
            for k in 0..<2 {
                try sim.addSubscriber(room: room, to: p, ssrc: 9000 + UInt32(k) * 10)
            }
        }
        sim.run(for: .seconds(3))
        for s in sim.subscribers {
            #expect(s.packets > 100)
            #expect(s.foreignPackets == 0)
        }
        // Room 1's first subscriber unsubscribes; room 2's publisher leaves.
        let r1 = sim.routers[1]
        let gone = sim.subscribers[2]
        r1.removeTransport(gone.transport)
        let packetsAtRemoval = gone.packets
        let room2Publisher = sim.publishers[2]
        room2Publisher.running = false
        sim.routers[2].removeTransport(room2Publisher.transport)
        #expect(sim.routers[2].producerCount == 0)
        #expect(sim.routers[2].consumerCount == 0, "consumers of a removed producer go with it")
        // Room 0's publisher restarts its encoder with a new SSRC, recognised by the mid extension.
        let p0 = sim.publishers[0]
        p0.layers[0].ssrc += 100
        p0.layers[0].sequenceNumber &+= 30_000
        let changedAt = sim.now
        sim.run(for: .seconds(3))
        #expect(gone.packets <= packetsAtRemoval + 20, "only what was in flight reaches a removed subscriber")
        #expect(sim.subscribers[3].packets > 100, "room 1's other subscriber goes on")
        for s in sim.subscribers { #expect(s.foreignPackets == 0) }
        #expect(sim.routers[1].consumerCount == 1)
        #expect(sim.routers[0].counters.malformedRTP == 0)
        // Room 0's subscribers go on, continuous, from the new SSRC's next keyframe.
        var sawChange = false
        while let event = sim.routers[0].pollEvent() {
            if case .producerSSRCChanged(producers[0], layer: 0) = event { sawChange = true }
        }
        #expect(sawChange)
        for s in sim.subscribers[0..<2] {
            #expect(s.completeness(after: changedAt + .seconds(1)).complete > 40)
            #expect(s.discontinuities == 0)
            #expect(s.switchesNotOnKeyframe == 0)
        }
        // Everyone leaves: nothing remains.
        for r in sim.routers {
            for t in Array(sim.transports.keys) where sim.transports[t]!.router == sim.routers.firstIndex(where: { $0 === r })! {
                r.removeTransport(t)
            }
            #expect(r.producerCount == 0)
            #expect(r.consumerCount == 0)
            #expect(r.transportCount == 0)
        }
    }
}
