import COpenSSL
import StarlingWire

/// Small helpers over the OpenSSL C API shared by the DTLS types.
enum OpenSSLSupport {
    /// Drains this thread's OpenSSL error queue into one line; `fallback` if it was empty.
    static func drainErrors(fallback: String) -> String {
        var parts: [String] = []
        var buffer = [CChar](repeating: 0, count: 256)
        while case let code = ERR_get_error(), code != 0 {
            let text = buffer.withUnsafeMutableBufferPointer { b -> String in
                guard let base = b.baseAddress else { return "" }
                ERR_error_string_n(code, base, b.count)
                return String(cString: base)
            }
            parts.append(text)
        }
        return parts.isEmpty ? fallback : parts.joined(separator: "; ")
    }

    /// The OpenSSL digest for an RFC 8122 §5 hash function name (`sha-256`, ...), case-insensitive.
    /// MD5 and MD2 are listed by RFC 8122 but not accepted here.
    static func digest(named name: String) -> OpaquePointer? {
        switch name.lowercased() {
        case "sha-1": EVP_sha1()
        case "sha-224": EVP_sha224()
        case "sha-256": EVP_sha256()
        case "sha-384": EVP_sha384()
        case "sha-512": EVP_sha512()
        default: nil
        }
    }

    /// The certificate's DER digest under `hashFunction`, as an SDP fingerprint (RFC 8122 §5).
    static func fingerprint(of x509: OpaquePointer, hashFunction: String) -> SDP.Fingerprint? {
        guard let md = digest(named: hashFunction) else { return nil }
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let ok = out.withUnsafeMutableBufferPointer { X509_digest(x509, md, $0.baseAddress, &length) }
        guard ok == 1, Int(length) <= out.count else { return nil }
        return SDP.Fingerprint(hashFunction: hashFunction.lowercased(), bytes: Array(out[0..<Int(length)]))
    }

    /// The bytes a memory BIO holds, as a String (for PEM output).
    static func drainString(_ bio: OpaquePointer) -> String {
        var data: UnsafeMutablePointer<CChar>?
        let count = starling_BIO_get_mem_data(bio, &data)
        guard count > 0, let data else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: data, count: count), as: UTF8.self)
    }
}
