/// An owned RTP packet (RFC 3550 §5.1) for building, testing and the control path. The forwarding
/// path works on buffers with `RTPHeader` instead.
public struct RTPPacket: WireCodable, Hashable {
    public var marker: Bool
    public var payloadType: UInt8
    public var sequenceNumber: UInt16
    public var timestamp: UInt32
    public var ssrc: UInt32
    /// At most 15 (RFC 3550 §5.1 CC is 4 bits); `serialize` writes the first 15.
    public var csrcs: [UInt32]
    public var headerExtension: HeaderExtension?
    public var payload: [UInt8]
    /// Padding bytes to append, count byte included (0 for none). Written as zeros then the count.
    public var paddingLength: UInt8

    /// The extension block: RFC 8285 elements, or opaque data under another profile.
    public enum HeaderExtension: Hashable, Sendable {
        case elements(RTPHeaderExtensionForm, [RTPHeaderExtensionElement])
        case opaque(profile: UInt16, data: [UInt8])
    }

    public init(
        marker: Bool = false, payloadType: UInt8, sequenceNumber: UInt16, timestamp: UInt32, ssrc: UInt32,
        csrcs: [UInt32] = [], headerExtension: HeaderExtension? = nil, payload: [UInt8] = [], paddingLength: UInt8 = 0
    ) {
        self.marker = marker
        self.payloadType = payloadType & 0x7F
        self.sequenceNumber = sequenceNumber
        self.timestamp = timestamp
        self.ssrc = ssrc
        self.csrcs = csrcs
        self.headerExtension = headerExtension
        self.payload = payload
        self.paddingLength = paddingLength
    }

    public init(parsing bytes: UnsafeRawBufferPointer) throws(WireError) {
        let header = try RTPHeader(parsing: bytes)
        marker = header.marker
        payloadType = header.payloadType
        sequenceNumber = header.sequenceNumber
        timestamp = header.timestamp
        ssrc = header.ssrc
        csrcs = (0..<header.csrcCount).map { bytes.loadBE32(at: RTPHeader.fixedLength + $0 * 4) }
        if let profile = header.extensionProfile {
            let block = header.extensionBlock(in: bytes)
            if let form = RTPHeaderExtensionForm(profile: profile) {
                try RTPHeaderExtensionForm.validate(form: form, block: block)
                var elements: [RTPHeaderExtensionElement] = []
                RTPHeaderExtensionForm.forEachElement(form: form, in: block) { id, value in
                    elements.append(RTPHeaderExtensionElement(id: id, value: Array(value)))
                    return true
                }
                headerExtension = .elements(form, elements)
            } else {
                headerExtension = .opaque(profile: profile, data: Array(block))
            }
        } else {
            headerExtension = nil
        }
        payload = Array(header.payload(in: bytes))
        paddingLength = UInt8(header.paddingLength)
    }

    /// The value of element `id`, if the packet has an RFC 8285 extension block holding it.
    public func headerExtensionValue(id: UInt8) -> [UInt8]? {
        guard case .elements(_, let elements) = headerExtension else { return nil }
        return elements.first { $0.id == id }?.value
    }

    /// Sets (or adds) element `id`. Switches a one-byte block to the two-byte form when the element
    /// does not fit the one-byte form (RFC 8285 §4.3).
    public mutating func setHeaderExtensionValue(id: UInt8, _ value: [UInt8]) {
        let element = RTPHeaderExtensionElement(id: id, value: value)
        var (form, elements): (RTPHeaderExtensionForm, [RTPHeaderExtensionElement])
        switch headerExtension {
        case .elements(let f, let e): (form, elements) = (f, e)
        case .opaque, nil: (form, elements) = (.oneByte, [])
        }
        if let i = elements.firstIndex(where: { $0.id == id }) { elements[i] = element } else { elements.append(element) }
        if form == .oneByte && !element.fitsOneByteForm { form = .twoByte(appBits: 0) }
        headerExtension = .elements(form, elements)
    }

    public func serialize(into out: inout [UInt8]) {
        let csrcCount = min(csrcs.count, 15)
        let hasPadding = paddingLength > 0
        out.append(0x80 | (hasPadding ? 0x20 : 0) | (headerExtension != nil ? 0x10 : 0) | UInt8(csrcCount))
        out.append((marker ? 0x80 : 0) | (payloadType & 0x7F))
        out.appendBE16(sequenceNumber)
        out.appendBE32(timestamp)
        out.appendBE32(ssrc)
        for csrc in csrcs.prefix(csrcCount) { out.appendBE32(csrc) }
        switch headerExtension {
        case nil:
            break
        case .opaque(let profile, let data):
            out.appendBE16(profile)
            let words = min((data.count + 3) / 4, Int(UInt16.max))
            out.appendBE16(UInt16(words))
            out.append(contentsOf: data.prefix(words * 4))
            for _ in 0..<(words * 4 - min(data.count, words * 4)) { out.append(0) }
        case .elements(let form, let elements):
            out.appendBE16(form.profile)
            let lengthAt = out.count
            out.appendBE16(0)
            let start = out.count
            for element in elements {
                switch form {
                case .oneByte:
                    // Only elements that fit the one-byte form can be written in it; use
                    // `setHeaderExtensionValue`, which switches forms, to add others.
                    guard element.fitsOneByteForm else { continue }
                    out.append(element.id << 4 | UInt8(element.value.count - 1))
                    out.append(contentsOf: element.value)
                case .twoByte:
                    guard element.id != 0 else { continue }
                    out.append(element.id)
                    let value = element.value.prefix(255)
                    out.append(UInt8(value.count))
                    out.append(contentsOf: value)
                }
            }
            while (out.count - start) % 4 != 0 { out.append(0) }
            out.setBE16(UInt16(clamping: (out.count - start) / 4), at: lengthAt)
        }
        out.append(contentsOf: payload)
        if hasPadding {
            for _ in 1..<Int(paddingLength) { out.append(0) }
            out.append(paddingLength)
        }
    }
}
