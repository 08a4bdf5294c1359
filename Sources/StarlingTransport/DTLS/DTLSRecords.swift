/// DTLS 1.2 record framing (RFC 6347 §4.1), used to check datagrams before OpenSSL sees them and to
/// cut OpenSSL's output into datagrams.
///
/// A record is a 13-byte header (type, version, epoch, 48-bit sequence number, 16-bit length) and
/// `length` bytes; one datagram may carry several records (RFC 6347 §4.1.1).
enum DTLSRecords {
    static let headerLength = 13
    /// RFC 6347 §4.1: a DTLSCiphertext fragment is at most 2^14 + 2048 bytes.
    static let maxRecordLength = (1 << 14) + 2048
    /// OpenSSL's default limit on a handshake message (its max_cert_list), above which it fails the
    /// handshake; a forged header must not get that far.
    static let maxHandshakeMessageLength = 102_400

    enum ContentType: UInt8 {
        case changeCipherSpec = 20, alert = 21, handshake = 22, applicationData = 23
    }

    /// Handshake message types a DTLS 1.2 server receives in plaintext (epoch 0): client_hello,
    /// certificate, certificate_verify, client_key_exchange (RFC 5246 §7.4, RFC 6347 §4.2).
    static let plaintextTypesFromClient: Set<UInt8> = [1, 11, 15, 16]
    /// Those a client receives: hello_request, server_hello, hello_verify_request,
    /// new_session_ticket, certificate, server_key_exchange, certificate_request, server_hello_done.
    static let plaintextTypesFromServer: Set<UInt8> = [0, 2, 3, 4, 11, 12, 13, 14]

    /// What an incoming datagram's framing says.
    enum Check: Equatable {
        /// Well-formed; `applicationData` tells whether it carries an application data record.
        case wellFormed(applicationData: Bool)
        /// A record header or body runs past the end of the datagram.
        case truncated
        /// A record OpenSSL would drop silently at best and treat as a fatal error at worst.
        case malformed(String)
        /// A protected record shorter than the cipher's explicit nonce and tag: it cannot authenticate.
        case shortProtected(length: Int)
    }

    /// The bytes every protected (epoch 1) record carries besides its plaintext under the cipher suite
    /// with this IANA id: AES-GCM has an 8-byte explicit nonce and a 16-byte tag (RFC 5288 §3),
    /// ChaCha20-Poly1305 a 16-byte tag only (RFC 7905 §2). nil for a suite we do not offer.
    static func protectedOverhead(cipherSuite: UInt16) -> Int? {
        switch cipherSuite {
        case 0xC02B, 0xC02C, 0xC02F, 0xC030: 8 + 16
        case 0xCCA8, 0xCCA9: 16
        default: nil
        }
    }

    /// The largest `protectedOverhead` of the suites we offer: the bound used while none is negotiated.
    static let largestProtectedOverhead = 24

    /// Checks every record of an incoming datagram (RFC 6347 §4.1.2.7: invalid records are silently
    /// discarded). Epoch 0 records are plaintext, so their content is checked too: a random datagram
    /// passes with negligible probability, so garbage never reaches OpenSSL's state machine.
    /// Epoch 1 records are authenticated by OpenSSL, but only those at least `minimumProtectedLength`
    /// long (the cipher's nonce and tag) reach it: OpenSSL 3.0 fails the whole association with an
    /// internal_error alert on a shorter AEAD record (openssl/openssl#25290) where RFC 6347 §4.1.2.7
    /// wants it discarded. Later epochs never occur: WebRTC does not renegotiate.
    /// `fromServer` tells which side sent it: each side sends its own handshake messages only.
    static func check(
        _ bytes: UnsafeRawBufferPointer, fromServer: Bool, minimumProtectedLength: Int = largestProtectedOverhead
    ) -> Check {
        guard !bytes.isEmpty else { return .malformed("empty datagram") }
        var offset = 0
        var applicationData = false
        var shortProtected: Int?
        while offset < bytes.count {
            guard bytes.count - offset >= headerLength else { return .truncated }
            let typeByte = bytes[offset]
            let version = UInt16(bytes[offset + 1]) << 8 | UInt16(bytes[offset + 2])
            let epoch = UInt16(bytes[offset + 3]) << 8 | UInt16(bytes[offset + 4])
            let length = Int(bytes[offset + 11]) << 8 | Int(bytes[offset + 12])
            guard let type = ContentType(rawValue: typeByte) else {
                return .malformed("content type \(typeByte)")
            }
            // DTLS 1.2 records carry 1.2 (0xFEFD) or, in a first ClientHello, 1.0 (0xFEFF).
            guard version == 0xFEFD || version == 0xFEFF else {
                return .malformed("record version 0x\(String(version, radix: 16))")
            }
            guard epoch <= 1 else { return .malformed("epoch \(epoch)") }
            guard length > 0, length <= maxRecordLength else { return .malformed("record length \(length)") }
            let body = offset + headerLength
            guard bytes.count - body >= length else { return .truncated }
            let record = UnsafeRawBufferPointer(rebasing: bytes[body..<body + length])
            if epoch == 0 {
                if let why = checkPlaintext(type: type, record, fromServer: fromServer) { return .malformed(why) }
            } else {
                if length < minimumProtectedLength, shortProtected == nil { shortProtected = length }
                if type == .applicationData { applicationData = true }
            }
            offset = body + length
        }
        if let length = shortProtected { return .shortProtected(length: length) }
        return .wellFormed(applicationData: applicationData)
    }

    /// Checks the content of an epoch 0 (unprotected) record; returns why it is malformed, or nil.
    private static func checkPlaintext(type: ContentType, _ r: UnsafeRawBufferPointer, fromServer: Bool) -> String? {
        switch type {
        case .changeCipherSpec:
            // RFC 5246 §7.1: a single byte of value 1.
            return r.count == 1 && r[0] == 1 ? nil : "change_cipher_spec body"
        case .alert:
            // RFC 5246 §7.2: level (1 warning, 2 fatal) and description.
            return r.count == 2 && (r[0] == 1 || r[0] == 2) ? nil : "alert body"
        case .applicationData:
            return "application data in epoch 0"
        case .handshake:
            // RFC 6347 §4.2.2: msg_type(1) length(3) message_seq(2) fragment_offset(3)
            // fragment_length(3), then the fragment; a record may hold several.
            var offset = 0
            while offset < r.count {
                guard r.count - offset >= 12 else { return "handshake header truncated" }
                let msgType = r[offset]
                let length = uint24(r, offset + 1)
                let fragmentOffset = uint24(r, offset + 6)
                let fragmentLength = uint24(r, offset + 9)
                let allowed = fromServer ? plaintextTypesFromServer : plaintextTypesFromClient
                guard allowed.contains(msgType) else { return "handshake type \(msgType)" }
                guard length <= maxHandshakeMessageLength else { return "handshake length \(length)" }
                guard fragmentOffset <= length, fragmentLength <= length - fragmentOffset else {
                    return "handshake fragment \(fragmentOffset)+\(fragmentLength) of \(length)"
                }
                guard r.count - offset - 12 >= fragmentLength else { return "handshake fragment truncated" }
                offset += 12 + fragmentLength
            }
            return nil
        }
    }

    private static func uint24(_ r: UnsafeRawBufferPointer, _ i: Int) -> Int {
        Int(r[i]) << 16 | Int(r[i + 1]) << 8 | Int(r[i + 2])
    }

    /// Cuts a run of records into datagrams of at most `mtu` bytes, cutting only on record
    /// boundaries (RFC 6347 §4.1.1: several records may share a datagram, none may span two).
    /// OpenSSL's memory BIO concatenates the records of a flight; OpenSSL itself keeps each record
    /// within the MTU (SSL_set_mtu), so only a record that alone exceeds `mtu` yields an oversized
    /// datagram. Bytes that do not parse as records (never produced by OpenSSL) go out as they are.
    static func datagrams(from bytes: [UInt8], mtu: Int) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var start = 0
        var end = 0
        while end < bytes.count {
            guard bytes.count - end >= headerLength else {
                end = bytes.count
                break
            }
            let length = Int(bytes[end + 11]) << 8 | Int(bytes[end + 12])
            let recordEnd = min(bytes.count, end + headerLength + length)
            if recordEnd - start > mtu, end > start {
                out.append(Array(bytes[start..<end]))
                start = end
            }
            end = recordEnd
        }
        if end > start { out.append(Array(bytes[start..<end])) }
        return out
    }
}
