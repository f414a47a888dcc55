import AtelierCore
import AtelierJob
import XCTest

final class FingerprintTests: XCTestCase {
    /// Below 8 bytes it is plain FNV-1a (the published test vectors); from 8 bytes on, words.
    func testKnownValues() {
        XCTAssertEqual(fingerprint64([]), 0xcbf2_9ce4_8422_2325)
        XCTAssertEqual(fingerprint64(Array("a".utf8)), 0xaf63_dc4c_8601_ec8c)
        XCTAssertEqual(fingerprint64(Array("foobar".utf8)), 0x8594_4171_f739_67e8)
        // one word: (basis ^ word) * prime, folded
        let word: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
        var h = (0xcbf2_9ce4_8422_2325 ^ UInt64(0x0807_0605_0403_0201)) &* 0x0000_0100_0000_01b3
        h ^= h >> 31
        XCTAssertEqual(fingerprint64(word), h)
        XCTAssertNotEqual(fingerprint64(word + [0]), fingerprint64(word))
    }
}
