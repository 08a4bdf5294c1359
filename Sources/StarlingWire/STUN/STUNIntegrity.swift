import COpenSSL

/// Keys for MESSAGE-INTEGRITY (RFC 8489 §9).
public enum STUNCredentials {
    /// Short-term credential key (§9.1.1): the password after the OpaqueString profile. ICE uses the
    /// peer's ice-pwd (RFC 8445 §7.2.2), which is ASCII and used as-is.
    public static func shortTermKey(password: String) -> [UInt8] {
        opaqueString(password)
    }

    /// Long-term credential key (§9.2.2, MD5 algorithm): MD5(username ":" OpaqueString(realm) ":"
    /// OpaqueString(password)).
    public static func longTermKey(username: String, realm: String, password: String) -> [UInt8] {
        var input = Array(username.utf8)
        input.append(UInt8(ascii: ":"))
        input += opaqueString(realm)
        input.append(UInt8(ascii: ":"))
        input += opaqueString(password)
        return md5(input)
    }

    /// The PRECIS OpaqueString profile's preparation (RFC 8265 §4.2.2): non-ASCII spaces become U+0020,
    /// then Unicode Normalization Form C. ASCII text is returned unchanged. (Enforcement, that is
    /// rejecting control characters, is left to whoever chooses the password.)
    public static func opaqueString(_ text: String) -> [UInt8] {
        if text.utf8.allSatisfy({ $0 < 0x80 }) { return Array(text.utf8) }
        var mapped = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            let isNonASCIISpace = scalar.value >= 0x80 && scalar.properties.generalCategory == .spaceSeparator
            mapped.append(isNonASCIISpace ? " " : scalar)
        }
        return String(mapped)._nfcCodeUnits
    }

    /// MD5 through OpenSSL's EVP interface.
    static func md5(_ input: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var size: UInt32 = 0
        let ok = input.withUnsafeBytes { data in
            digest.withUnsafeMutableBufferPointer { out in
                EVP_Digest(data.baseAddress, data.count, out.baseAddress, &size, EVP_md5(), nil)
            }
        }
        guard ok == 1 else { return [] }
        return Array(digest.prefix(Int(size)))
    }
}

// MARK: - MESSAGE-INTEGRITY, FINGERPRINT

extension STUNMessage {
    /// Serializes the message and appends MESSAGE-INTEGRITY (HMAC-SHA1 with `integrityKey`, §14.5) and
    /// FINGERPRINT (§14.7) computed over the bytes before each. MESSAGE-INTEGRITY and FINGERPRINT
    /// attributes already in `attributes` are left out and replaced by the fresh ones.
    public func serialize(integrityKey: [UInt8]?, fingerprint: Bool, padding: UInt8 = 0) -> [UInt8] {
        var out: [UInt8] = []
        serialize(into: &out, integrityKey: integrityKey, fingerprint: fingerprint, padding: padding)
        return out
    }

    /// As `serialize(integrityKey:fingerprint:padding:)`, appending to `out`.
    public func serialize(into out: inout [UInt8], integrityKey: [UInt8]?, fingerprint: Bool, padding: UInt8 = 0) {
        let start = beginSerialization(into: &out)
        for attribute in attributes where attribute.type != .messageIntegrity && attribute.type != .fingerprint {
            Self.append(attribute, to: &out, transactionID: transactionID, padding: padding)
        }
        if let key = integrityKey {
            // The length field counts the MESSAGE-INTEGRITY attribute (24 bytes) while hashing (§14.5).
            out.setBE16(UInt16(truncatingIfNeeded: out.count - start - Self.headerLength + 24), at: start + 2)
            let mac = out.withUnsafeBytes { bytes in
                STUNIntegrity.hmac(.sha1, key: key, UnsafeRawBufferPointer(rebasing: bytes[start...]))
            }
            out.appendBE16(STUNAttributeType.messageIntegrity.rawValue)
            out.appendBE16(20)
            out += mac
        }
        if fingerprint {
            out.setBE16(UInt16(truncatingIfNeeded: out.count - start - Self.headerLength + 8), at: start + 2)
            let crc = out.withUnsafeBytes { bytes in CRC32.checksum(UnsafeRawBufferPointer(rebasing: bytes[start...])) }
            out.appendBE16(STUNAttributeType.fingerprint.rawValue)
            out.appendBE16(4)
            out.appendBE32(crc ^ Self.fingerprintXOR)
        }
        Self.setLength(of: &out, messageStart: start)
    }

    /// True when `bytes` is a well-framed STUN message whose first MESSAGE-INTEGRITY attribute holds the
    /// HMAC-SHA1, under `key`, of the message before it with the header length adjusted to end just after
    /// it (§14.5). The comparison takes constant time.
    public static func verifyIntegrity(_ bytes: UnsafeRawBufferPointer, key: [UInt8]) -> Bool {
        verify(bytes, key: key, type: .messageIntegrity, algorithm: .sha1)
    }

    public static func verifyIntegrity(_ bytes: [UInt8], key: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { verifyIntegrity($0, key: key) }
    }

    /// As `verifyIntegrity`, for MESSAGE-INTEGRITY-SHA256 (§14.6): HMAC-SHA256, possibly truncated to the
    /// attribute's 16...32 bytes.
    public static func verifyIntegritySHA256(_ bytes: UnsafeRawBufferPointer, key: [UInt8]) -> Bool {
        verify(bytes, key: key, type: .messageIntegritySHA256, algorithm: .sha256)
    }

    public static func verifyIntegritySHA256(_ bytes: [UInt8], key: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { verifyIntegritySHA256($0, key: key) }
    }

    /// True when `bytes` is a well-framed STUN message ending with a FINGERPRINT attribute whose value is
    /// the CRC-32 of everything before it XOR 0x5354554E (§14.7).
    public static func verifyFingerprint(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard looksLikeSTUN(bytes),
              let (offset, length) = STUNIntegrity.findAttribute(STUNAttributeType.fingerprint.rawValue, in: bytes),
              length == 4, offset + 8 == bytes.count
        else { return false }
        let crc = CRC32.checksum(UnsafeRawBufferPointer(rebasing: bytes[..<offset]))
        return crc ^ fingerprintXOR == bytes.loadBE32(at: offset + 4)
    }

    public static func verifyFingerprint(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { verifyFingerprint($0) }
    }

    private static func verify(
        _ bytes: UnsafeRawBufferPointer, key: [UInt8], type: STUNAttributeType, algorithm: STUNIntegrity.Algorithm
    ) -> Bool {
        guard looksLikeSTUN(bytes),
              let (offset, length) = STUNIntegrity.findAttribute(type.rawValue, in: bytes)
        else { return false }
        switch algorithm {
        case .sha1: guard length == 20 else { return false }
        case .sha256: guard length >= 16, length <= 32, length % 4 == 0 else { return false }
        }
        let adjustedLength = UInt16(truncatingIfNeeded: offset - headerLength + 4 + length)
        // Hash a copy of the prefix with the adjusted length (on the stack for ordinary message sizes).
        let mac = withUnsafeTemporaryAllocation(byteCount: offset, alignment: 1) { copy in
            copy.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[..<offset]))
            copy[2] = UInt8(truncatingIfNeeded: adjustedLength >> 8)
            copy[3] = UInt8(truncatingIfNeeded: adjustedLength)
            return STUNIntegrity.hmac(algorithm, key: key, UnsafeRawBufferPointer(copy))
        }
        guard mac.count >= length else { return false }
        var difference: UInt8 = 0
        for i in 0..<length { difference |= mac[i] ^ bytes[offset + 4 + i] }
        return difference == 0
    }
}

/// HMAC and attribute lookup over raw message bytes.
enum STUNIntegrity {
    enum Algorithm { case sha1, sha256 }

    /// One-shot HMAC through OpenSSL; empty on failure (which then never matches).
    static func hmac(_ algorithm: Algorithm, key: [UInt8], _ data: UnsafeRawBufferPointer) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var size: UInt32 = 0
        var placeholder: UInt8 = 0
        let ok = key.withUnsafeBytes { keyBytes in
            out.withUnsafeMutableBufferPointer { mac in
                withUnsafeMutablePointer(to: &placeholder) { empty in
                    let md = algorithm == .sha1 ? EVP_sha1() : EVP_sha256()
                    let keyPointer = keyBytes.baseAddress ?? UnsafeRawPointer(empty)
                    let dataPointer = data.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(empty)
                    return HMAC(md, keyPointer, Int32(clamping: keyBytes.count), dataPointer, data.count, mac.baseAddress, &size) != nil
                }
            }
        }
        guard ok else { return [] }
        return Array(out.prefix(Int(size)))
    }

    /// Offset of the first attribute of `type` (its 4-byte header) and its value length, walking the TLVs
    /// after the header; nil when absent or when a TLV overruns the buffer before it is reached.
    static func findAttribute(_ type: UInt16, in bytes: UnsafeRawBufferPointer) -> (offset: Int, length: Int)? {
        var offset = STUNMessage.headerLength
        while offset + 4 <= bytes.count {
            let attributeType = bytes.loadBE16(at: offset)
            let length = Int(bytes.loadBE16(at: offset + 2))
            guard offset + 4 + length <= bytes.count else { return nil }
            if attributeType == type { return (offset, length) }
            offset += 4 + ((length + 3) & ~3)
        }
        return nil
    }
}
