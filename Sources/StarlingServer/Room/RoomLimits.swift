import StarlingTransport

/// What one offer may claim, checked while it is answered (`RoomAnswer`).
struct OfferLimits: Sendable, Equatable {
    /// m-sections of any direction.
    var mediaSections = 32
    /// m-sections the offerer sends on.
    var sendingSections = 8
    /// Simulcast encodings (rids, or SSRCs of a SIM group) of one m-section.
    var simulcastLayers = 4
    /// The longest rid accepted (RFC 8851 sets none; a bound on what a peer makes us keep).
    static let maxRIDLength = 64
}

/// What offers, participants, rooms and transports may claim (`limits.*`, `media.disconnectedTimeoutSeconds`;
/// docs/OPERATIONS.md, "Limits and abuse"). One per server, shared by its rooms.
struct RoomLimits: Sendable, Equatable {
    var offer = OfferLimits()
    /// Rooms open at once (echo sessions apart).
    var rooms = 1024
    /// The largest SDP accepted, offer or answer.
    var sdpBytes = 96 * 1024
    var tracksPerParticipant = 8
    var tracksPerRoom = 48
    var inboundSSRCsPerTransport = 64
    var retransmissionsPerSecond = 250
    /// A transport without consent (RFC 7675) or a path ends after this long.
    var disconnectedTimeout: Duration = .seconds(30)

    init() {}

    init(_ c: StarlingConfiguration) {
        offer = OfferLimits(
            mediaSections: c.limits.mediaSectionsPerOffer, sendingSections: c.limits.sendingSectionsPerOffer,
            simulcastLayers: c.limits.simulcastLayers)
        sdpBytes = c.limits.sdpBytes
        rooms = c.limits.rooms
        tracksPerParticipant = c.limits.tracksPerParticipant
        tracksPerRoom = c.limits.tracksPerRoom
        inboundSSRCsPerTransport = c.limits.inboundSSRCsPerTransport
        retransmissionsPerSecond = c.limits.retransmissionsPerSecond
        disconnectedTimeout = .seconds(c.media.disconnectedTimeoutSeconds)
    }
}
