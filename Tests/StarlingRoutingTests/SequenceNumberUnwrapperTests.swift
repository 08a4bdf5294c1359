import StarlingRouting
import Testing

@Suite struct SequenceNumberUnwrapperTests {
    @Test func extendsAcrossWrapAround() {
        var u = SequenceNumberUnwrapper()
        #expect(u.unwrap(65534) == 65534)
        #expect(u.unwrap(65535) == 65535)
        #expect(u.unwrap(0) == 65536)
        #expect(u.unwrap(1) == 65537)
        #expect(u.highest == 65537)
    }

    @Test func lateAndReorderedPacketsStayInTheirCycle() {
        var u = SequenceNumberUnwrapper()
        _ = u.unwrap(2)
        #expect(u.unwrap(65535) == -1)  // late packet from before the start
        #expect(u.highest == 2)
        #expect(u.unwrap(30000) == 30000)
        #expect(u.unwrap(40000) == 40000)
        #expect(u.unwrap(39990) == 39990)  // reordered: behind, same cycle
        #expect(u.highest == 40000)
        #expect(u.unwrap(10) == 65546)  // 40000 -> 10 is forward across the wrap
    }

    @Test func timestampsWrapAt32Bits() {
        var u = TimestampUnwrapper()
        #expect(u.unwrap(0xFFFF_FF00) == 0xFFFF_FF00)
        #expect(u.unwrap(0x100) == 0x1_0000_0100)
        #expect(u.unwrap(0xFFFF_FFF0) == 0xFFFF_FFF0)
    }
}
