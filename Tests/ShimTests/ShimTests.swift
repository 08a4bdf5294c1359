import COpenSSL
import COpus
import CSRTP
import CVPX
import Testing

/// One call into each system library, so a broken module map or link shows at once.
@Suite struct ShimTests {
    @Test func openSSLReportsVersion3() throws {
        let version = try #require(OpenSSL_version(OPENSSL_VERSION)).string
        #expect(version.hasPrefix("OpenSSL 3"), "\(version)")
        #expect(OpenSSL_version_num() >= 0x3000_0000)
    }

    @Test func libsrtp2ReportsVersion() throws {
        let version = try #require(srtp_get_version_string()).string
        #expect(version.contains("libsrtp2"), "\(version)")
        #expect(srtp_get_version() >= 0x0200_0000)  // 2.x; srtp_init() is left to SRTPSession (not thread-safe)
    }

    @Test func libvpxReportsVersionAndVP8Interfaces() throws {
        let version = try #require(vpx_codec_version_str()).string
        #expect(version.hasPrefix("v1."), "\(version)")
        #expect(vpx_codec_vp8_cx() != nil)
        #expect(vpx_codec_vp8_dx() != nil)
    }

    @Test func libopusReportsVersion() throws {
        let version = try #require(opus_get_version_string()).string
        #expect(version.hasPrefix("libopus 1."), "\(version)")
    }

    // usrsctp has no version call, and it may be initialised only once per process, by StarlingTransport's
    // SCTPStack (with its output callback): SCTPAssociationTests prove it links and works.
}

extension UnsafePointer<CChar> {
    fileprivate var string: String { String(cString: self) }
}
