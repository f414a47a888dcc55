import AtelierModel
import XCTest

final class ALiBiTests: XCTestCase {
    /// The paper's definition, written independently of the implementation: for n a power of two,
    /// slope_i = 2^(-8i/n); otherwise the slopes of the largest power of two n' < n, then the odd-
    /// indexed slopes 2^(-8j/(2n')), j = 1, 3, 5, ... for the remaining heads.
    func testSlopesForOneToSixtyFourHeads() {
        for heads in 1...64 {
            var p = 1
            while p * 2 <= heads { p *= 2 }
            var expected = (1...p).map { pow(2.0, -8.0 * Double($0) / Double(p)) }
            expected += stride(from: 1, to: 2 * (heads - p), by: 2).map { pow(2.0, -8.0 * Double($0) / Double(2 * p)) }
            let slopes = ALiBi.slopes(heads: heads)
            XCTAssertEqual(slopes.count, heads)
            for (s, e) in zip(slopes, expected) {
                XCTAssertEqual(Double(s), e, accuracy: e * 1e-6, "heads \(heads)")
            }
        }
        XCTAssertEqual(ALiBi.slopes(heads: 8), [0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625])
    }
}
