/// NIO socket addresses <-> StarlingWire transport addresses, for the server and the load tool.
public import NIOCore
public import StarlingWire

#if canImport(Glibc)
import Glibc
#endif

extension STUNAddress {
    /// The transport address of a NIO socket address (IPv4 or IPv6); nil for Unix sockets.
    public init?(_ address: SocketAddress) {
        switch address {
        case .v4(let v4):
            let ip = UInt32(bigEndian: v4.address.sin_addr.s_addr)
            self.init(ip: .v4(ip), port: UInt16(bigEndian: v4.address.sin_port))
        case .v6(let v6):
            var storage = v6.address.sin6_addr
            let bytes = withUnsafeBytes(of: &storage) { Array($0) }
            self.init(ipBytes: bytes, port: UInt16(bigEndian: v6.address.sin6_port))
        case .unixDomainSocket:
            return nil
        }
    }
}

extension SocketAddress {
    /// The NIO socket address of a transport address, built without formatting or parsing text.
    public init(_ address: STUNAddress) {
        let bytes = address.ip.bytes
        if bytes.count == 4 {
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = address.port.bigEndian
            withUnsafeMutableBytes(of: &sin.sin_addr) { $0.copyBytes(from: bytes) }
            self.init(sin)
        } else {
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = address.port.bigEndian
            withUnsafeMutableBytes(of: &sin6.sin6_addr) { $0.copyBytes(from: bytes) }
            self.init(sin6)
        }
    }
}
