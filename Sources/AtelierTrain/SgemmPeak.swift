import AtelierModel
import BLAS
import Foundation

/// Measures the sgemm rate OpenBLAS reaches here, with its current thread count: the denominator
/// of MFU. Run on all ranks at once so each sees the machine as loaded as in training.
public enum SgemmPeak {
    /// The side of the products `atelier train` measures with.
    public static let trainingSize = 1536

    /// Bytes a measurement of side `size` holds while it runs: A, B and C [size, size] fp32.
    public static func bytes(size: Int = trainingSize) -> Int { 3 * size * size * MemoryLayout<Float>.stride }

    /// Best FLOP/s over `repeats` square products of side `size`.
    public static func measure(size: Int = trainingSize, repeats: Int = 4) -> Double {
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
