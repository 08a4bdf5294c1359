import COpenSSL
import COpus
import CSRTP
import CUsrsctp
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

    /// usrsctp has no version call; this initialises it without threads (as Starling runs it) and reads a
    /// default from its sysctl table, which only a linked, working library returns.
    @Test func usrsctpInitialisesWithoutThreads() {
        UsrsctpOnce.initialise()
        #expect(usrsctp_sysctl_get_sctp_sendspace() > 0)
    }
}

enum UsrsctpOnce {
    static let initialised: Bool = {
        usrsctp_init_nothreads(0, nil, nil)
        return true
    }()
    static func initialise() { _ = initialised }
}

extension UnsafePointer<CChar> {
    fileprivate var string: String { String(cString: self) }
}
