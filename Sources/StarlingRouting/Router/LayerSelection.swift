/// Which simulcast layer a consumer forwards (mediasoup's SimulcastConsumer model).
///
/// State: the subscriber's preference (max spatial and temporal layer, paused), the highest spatial
/// layer the bandwidth allows (`allowedSpatial`, set by the router's allocator from the subscriber's
/// estimate), the resulting *target* layer, and the *current* layer being forwarded. The current layer
/// changes only at a keyframe of an acceptable layer (`acceptsSwitch`); until then the old layer keeps
/// flowing, so the subscriber's decoder never sees a frame it cannot decode. A simple (single-layer)
/// consumer is the case `layerCount == 1`. Only scalars.
public struct LayerSelection: Hashable, Sendable {
    public let layerCount: Int
    public var preferredSpatial: Int?
    public var preferredTemporal: Int?
    public var paused: Bool
    /// The highest spatial layer that fits the subscriber's bandwidth; nil when unknown (no limit).
    public var allowedSpatial: Int?
    /// Layers the publisher is currently sending (bit i set: layer i active).
    public var activeLayers: UInt32

    public private(set) var current: Int?
    /// Highest temporal layer forwarded now; follows `targetTemporal` at base-layer frames.
    public private(set) var currentTemporal: Int = Int.max

    public init(layerCount: Int, preferredSpatial: Int?, preferredTemporal: Int?, paused: Bool) {
        self.layerCount = max(layerCount, 1)
        self.preferredSpatial = preferredSpatial
        self.preferredTemporal = preferredTemporal
        self.paused = paused
        activeLayers = Self.allLayers(layerCount)
    }

    /// The `activeLayers` mask with every one of `count` layers set.
    public static func allLayers(_ count: Int) -> UInt32 {
        count >= 32 ? .max : (1 << UInt32(max(count, 1))) - 1
    }

    /// The spatial layer to converge to: the highest active layer within the preference and the
    /// bandwidth, or the lowest active layer when none fits (video never stops for lack of bandwidth
    /// alone); nil when paused or nothing is active.
    public var target: Int? {
        guard !paused, activeLayers != 0 else { return nil }
        var limit = layerCount - 1
        if let p = preferredSpatial { limit = min(limit, max(p, 0)) }
        if let a = allowedSpatial { limit = min(limit, max(a, 0)) }
        var layer = limit
        while layer >= 0 {
            if activeLayers & (1 << UInt32(layer)) != 0 { return layer }
            layer -= 1
        }
        // Nothing active at or below the limit: the lowest active layer above it.
        for l in (limit + 1)..<layerCount where activeLayers & (1 << UInt32(l)) != 0 { return l }
        return nil
    }

    public var targetTemporal: Int { preferredTemporal ?? Int.max }

    /// Whether a keyframe of `layer` is where the consumer should switch: to the target; or, while
    /// nothing is forwarded yet, to any layer up to the target (start fast, improve later); or upwards
    /// to a layer between the current one and the target.
    public func acceptsSwitch(to layer: Int) -> Bool {
        guard let target, layer != current else { return false }
        if layer == target { return true }
        guard let current else { return layer < target }
        return layer > current && layer < target
    }

    /// Whether the current layer must change (the router then asks for a keyframe of the target).
    public var needsSwitch: Bool { target != current }

    public mutating func switched(to layer: Int?) { current = layer }

    /// Called at the start of each frame of the current layer with its temporal layer id: dropping
    /// temporal layers is safe at once; adding them only at a base-layer (TID 0) or layer sync frame
    /// (RFC 7741 §4.2, the Y bit).
    public mutating func frameStarted(temporalLayer: Int, layerSync: Bool) {
        if targetTemporal < currentTemporal || temporalLayer == 0 || layerSync { currentTemporal = targetTemporal }
    }

    /// Whether a packet of temporal layer `tid` of the current spatial layer is forwarded.
    public func forwards(temporalLayer tid: Int) -> Bool { tid <= currentTemporal }
}
