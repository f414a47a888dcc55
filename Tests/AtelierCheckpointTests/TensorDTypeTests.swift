import AtelierCheckpoint
import XCTest

final class TensorDTypeTests: XCTestCase {
    /// f16 narrowing and widening agree bit for bit with Swift's own Float16 (IEEE round to
    /// nearest even) on specials, the subnormal range, the overflow edge and random values.
    func testF16MatchesSwiftFloat16() {
        var values: [Float] = [0, -0, 1, -1, 65504, 65519.99, 65520, -65520, 1e-8, 2.98e-8, 5.96e-8, 6.1e-5, 6.103515625e-05,
                               .infinity, -.infinity, .leastNonzeroMagnitude, .greatestFiniteMagnitude, 0.1, 1.0009765625, 1.00048828125]
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<200_000 {
            values.append(Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng)))
        }
        for x in values where !x.isNaN {
            XCTAssertEqual(TensorDType.narrowF16(x), Float16(x).bitPattern, "narrowing \(x) (bits \(String(x.bitPattern, radix: 16)))")
        }
        for bits in 0...UInt16.max {
            let ours = TensorDType.widenF16(bits), swift = Float(Float16(bitPattern: bits))
            if swift.isNaN { XCTAssertTrue(ours.isNaN) } else { XCTAssertEqual(ours.bitPattern, swift.bitPattern, "widening \(bits)") }
        }
        XCTAssertTrue(TensorDType.widenF16(TensorDType.narrowF16(.nan)).isNaN)
    }

    /// bf16 keeps fp32's exponent: rounding is on the low 16 bits, ties to even.
    func testBF16RoundsToNearestEven() {
        XCTAssertEqual(TensorDType.narrowBF16(1.0), 0x3F80)
        XCTAssertEqual(TensorDType.narrowBF16(Float(bitPattern: 0x3F80_8000)), 0x3F80)   // tie, even stays
        XCTAssertEqual(TensorDType.narrowBF16(Float(bitPattern: 0x3F81_8000)), 0x3F82)   // tie, odd rounds up
        XCTAssertEqual(TensorDType.narrowBF16(Float(bitPattern: 0x3F80_8001)), 0x3F81)   // above the tie
        XCTAssertEqual(TensorDType.narrowBF16(Float(bitPattern: 0x3F80_7FFF)), 0x3F80)
        XCTAssertEqual(TensorDType.narrowBF16(.infinity), 0x7F80)
        XCTAssertEqual(TensorDType.narrowBF16(Float.greatestFiniteMagnitude), 0x7F80)    // rounds past the largest bf16
        XCTAssertTrue(TensorDType.widenBF16(TensorDType.narrowBF16(.nan)).isNaN)
        XCTAssertEqual(TensorDType.widenBF16(0xC049), -3.140625)
        // every value rounds to one of its two bf16 neighbours, the nearer one
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<100_000 {
            let x = Float.random(in: -1000...1000, using: &rng)
            let y = TensorDType.widenBF16(TensorDType.narrowBF16(x))
            XCTAssertLessThanOrEqual(abs(y - x), x.ulp * 32768, "\(x) -> \(y)")
        }
    }

    func testOptionNames() {
        XCTAssertEqual(TensorDType(optionName: "bf16"), .bf16)
        XCTAssertEqual(TensorDType(optionName: "F16"), .f16)
        XCTAssertNil(TensorDType(optionName: "f64"))
        XCTAssertEqual(TensorDType.bf16.torchName, "bfloat16")
    }
}
