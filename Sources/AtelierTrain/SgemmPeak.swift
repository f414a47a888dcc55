import AtelierModel
import BLAS
import Foundation

/// Measures the sgemm rate OpenBLAS reaches here, with its current thread count: the denominator
/// of MFU. Run on all ranks at once so each sees the machine as loaded as in training.
public enum SgemmPeak {
    /// Best FLOP/s over `repeats` square products of side `size`.
    public static func measure(size: Int = 1536, repeats: Int = 4) -> Double {
        let a = FloatBuffer(count: size * size), b = FloatBuffer(count: size * size), c = FloatBuffer(count: size * size)
        for i in 0..<(size * size) { a[i] = Float(i % 7) * 0.01; b[i] = Float(i % 5) * 0.01 }
        sgemm(m: size, n: size, k: size, a: a.base, lda: size, b: b.base, ldb: size, c: c.base, ldc: size)  // warm-up
        var best = 0.0
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            sgemm(m: size, n: size, k: size, a: a.base, lda: size, b: b.base, ldb: size, c: c.base, ldc: size)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            best = max(best, 2 * pow(Double(size), 3) / seconds)
        }
        return best
    }
}
