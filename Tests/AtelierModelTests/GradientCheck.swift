import XCTest

/// Central finite differences of a scalar function of a float array, for checking hand-written
/// backward passes. Objectives accumulate in Double so float round-off stays below the step.
struct GradientCheck {
    var step: Float = 1e-2
    var relativeTolerance: Float = 2e-2
    var absoluteTolerance: Float = 2e-3

    /// Compares `analytic` (d objective / d x) with finite differences at the given indices of `x`.
    func verify(_ x: inout [Float], analytic: [Float], indices: [Int], objective: ([Float]) -> Double,
                file: StaticString = #filePath, line: UInt = #line) {
        for i in indices {
            let saved = x[i]
            x[i] = saved + step
            let up = objective(x)
            x[i] = saved - step
            let down = objective(x)
            x[i] = saved
            let numeric = Float((up - down) / Double(2 * step))
            let tolerance = absoluteTolerance + relativeTolerance * max(abs(numeric), abs(analytic[i]))
            XCTAssertEqual(analytic[i], numeric, accuracy: tolerance, "d/dx[\(i)]", file: file, line: line)
        }
    }
}

/// Deterministic pseudo-random floats in [-scale, scale).
func pseudoRandom(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var s = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    return (0..<n).map { _ in
        s ^= s << 13; s ^= s >> 7; s ^= s << 17
        return (Float(s >> 40) / Float(1 << 24) * 2 - 1) * scale
    }
}

/// sum(a * b) in Double.
func weightedSum(_ a: UnsafePointer<Float>, _ b: [Float]) -> Double {
    var s = 0.0
    for i in 0..<b.count { s += Double(a[i]) * Double(b[i]) }
    return s
}

/// A spread of indices over 0..<n (all of them when n is small).
func sampleIndices(_ n: Int, count: Int = 24) -> [Int] {
    n <= count ? Array(0..<n) : (0..<count).map { $0 * (n - 1) / (count - 1) }
}
