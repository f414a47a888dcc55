import TensorBoard
import XCTest

final class CRC32CTests: XCTestCase {
    /// RFC 3720 (iSCSI), appendix B.4, and the usual check value of "123456789".
    func testKnownVectors() {
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        XCTAssertEqual(CRC32C.checksum((0..<32).map { UInt8($0) }), 0x46DD_794E)
        XCTAssertEqual(CRC32C.checksum((0..<32).reversed().map { UInt8($0) }), 0x113F_DB5C)
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(CRC32C.checksum([UInt8]()), 0)
    }

    /// The mask by hand for "123456789": 0xE3069283 rotated right 15 bits is
    /// 0x0001C60D | 0x25060000 = 0x2507C60D; plus 0xA282EAD8 is 0xC78AB0E5 (TensorBoard's own
    /// masked_crc32c gives the same).
    func testMask() {
        XCTAssertEqual(CRC32C.masked(Array("123456789".utf8)), 0xC78A_B0E5)
        XCTAssertEqual(CRC32C.masked([UInt8](repeating: 0, count: 32)), 0x0FD7_FFFA)
    }
}
