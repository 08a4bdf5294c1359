/// The two general header-extension mechanisms of RFC 8285.
public enum RTPHeaderExtensionForm: Equatable, Hashable, Sendable {
    /// One-byte header, profile 0xBEDE (RFC 8285 §4.2): ids 1...14, values of 1...16 bytes.
    case oneByte
    /// Two-byte header, profile 0x100 followed by 4 application bits (RFC 8285 §4.3):
    /// ids 1...255, values of 0...255 bytes.
    case twoByte(appBits: UInt8)

    public static let oneByteProfile: UInt16 = 0xBEDE

    @inlinable
    public init?(profile: UInt16) {
        if profile == RTPHeaderExtensionForm.oneByteProfile {
            self = .oneByte
        } else if profile & 0xFFF0 == 0x1000 {
            self = .twoByte(appBits: UInt8(profile & 0x0F))
        } else {
            return nil
        }
    }

    @inlinable
    public var profile: UInt16 {
        switch self {
        case .oneByte: return RTPHeaderExtensionForm.oneByteProfile
        case .twoByte(let bits): return 0x1000 | UInt16(bits & 0x0F)
        }
    }

    /// Walks the elements of an extension block, calling `body(id, value)` until it returns false.
    /// Padding bytes (id 0) are skipped; a one-byte id of 15 or an element running past the block ends
    /// the walk (RFC 8285 §4.2, §4.3).
    @inlinable
    public static func forEachElement(
        form: RTPHeaderExtensionForm, in block: UnsafeRawBufferPointer,
        _ body: (UInt8, UnsafeRawBufferPointer) -> Bool
    ) {
        var i = 0
        let n = block.count
        switch form {
        case .oneByte:
            while i < n {
                let b = block[i]
                let id = b >> 4
                if id == 0 {
                    i += 1
                    continue
                }
                if id == 15 { return }
                let length = Int(b & 0x0F) + 1
                let start = i + 1
                guard start + length <= n else { return }
                if !body(id, UnsafeRawBufferPointer(rebasing: block[start..<(start + length)])) { return }
                i = start + length
            }
        case .twoByte:
            while i < n {
                let id = block[i]
                if id == 0 {
                    i += 1
                    continue
                }
                guard i + 2 <= n else { return }
                let length = Int(block[i + 1])
                let start = i + 2
                guard start + length <= n else { return }
                if !body(id, UnsafeRawBufferPointer(rebasing: block[start..<(start + length)])) { return }
                i = start + length
            }
        }
    }

    /// Checks every element of a block strictly: a malformed element is an error instead of the end of
    /// the walk. Used when building owned packets; the forwarding path uses the lenient walk.
    public static func validate(form: RTPHeaderExtensionForm, block: UnsafeRawBufferPointer) throws(WireError) {
        var i = 0
        let n = block.count
        while i < n {
            let id: UInt8
            let length: Int
            let start: Int
            switch form {
            case .oneByte:
                let b = block[i]
                id = b >> 4
                if id == 0 { i += 1; continue }
                if id == 15 { return }  // RFC 8285 §4.2: processing ends here
                length = Int(b & 0x0F) + 1
                start = i + 1
            case .twoByte:
                id = block[i]
                if id == 0 { i += 1; continue }
                guard i + 2 <= n else {
                    throw WireError.truncated(.rtpHeaderExtension, "element length", needed: i + 2, available: n)
                }
                length = Int(block[i + 1])
                start = i + 2
            }
            guard start + length <= n else {
                throw WireError.truncated(.rtpHeaderExtension, "element \(id) value", needed: start + length, available: n)
            }
            i = start + length
        }
    }
}

/// One header-extension element: a local identifier negotiated with `a=extmap` and its value.
public struct RTPHeaderExtensionElement: Equatable, Hashable, Sendable {
    public var id: UInt8
    public var value: [UInt8]
    public init(id: UInt8, value: [UInt8]) {
        self.id = id
        self.value = value
    }

    /// Whether the element can be written in the one-byte form.
    @inlinable public var fitsOneByteForm: Bool { (1...14).contains(id) && (1...16).contains(value.count) }
}

/// The URIs of the header extensions Starling reads, as announced in `a=extmap` (RFC 8285 §5).
public enum RTPHeaderExtensionURI {
    public static let sdesMid = "urn:ietf:params:rtp-hdrext:sdes:mid"
    public static let rtpStreamID = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
    public static let repairedRTPStreamID = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
    public static let absSendTime = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
    public static let transportWideCC = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
    public static let audioLevel = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
    public static let dependencyDescriptor =
        "https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension"
    public static let videoOrientation = "urn:3gpp:video-orientation"
    public static let timeOffset = "urn:ietf:params:rtp-hdrext:toffset"
}
