import AtelierModel
import BLAS
import Foundation

/// The attention Atelier used before flash attention, kept as the tests' reference: it materialises
/// probs [B, H, T, T] (zero above the diagonal) and backward needs a [T, T] scratch. Same layout
/// and formula as `Attention`: qkv [B, T, H, 3, D], scores[t, s] = q_t . k_s / sqrt(D) + slope_h * s.
enum MaterializedAttention {
    /// qkv [B, T, 3C] -> out [B, T, C]; probs [B, H, T, T].
    static func forward(out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
                        qkv: UnsafePointer<Float>, slopes: [Float],
                        batch B: Int, sequence T: Int, heads H: Int, headDim D: Int, blockRows: Int = 128) {
        let C = H * D, C3 = 3 * C
        let scale = 1 / Float(D).squareRoot()
        for b in 0..<B {
            for h in 0..<H {
                let q = qkv + b * T * C3 + h * 3 * D
                let k = q + D, v = q + 2 * D
                let p = probs + (b * H + h) * T * T
                for r0 in stride(from: 0, to: T, by: blockRows) {
                    let r1 = min(T, r0 + blockRows)
                    // scores [r0..<r1, 0..<r1] = q k^T / sqrt(D)
                    sgemm(transB: true, m: r1 - r0, n: r1, k: D, alpha: scale, a: q + r0 * C3, lda: C3, b: k, ldb: C3,
                          c: p + r0 * T, ldc: T)
                }
                softmaxCausalRows(p, T: T, slope: slopes[h])
                for r0 in stride(from: 0, to: T, by: blockRows) {
                    let r1 = min(T, r0 + blockRows)
                    // out [r0..<r1, D] = P [r0..<r1, 0..<r1] v [0..<r1, D]
                    sgemm(m: r1 - r0, n: D, k: r1, a: p + r0 * T, lda: T, b: v, ldb: C3,
                          c: out + (b * T + r0) * C + h * D, ldc: C)
                }
            }
        }
    }

    /// Adds ALiBi, masks s > t, and turns each row of p [T, T] into probabilities in place (in Double).
    static func softmaxCausalRows(_ p: UnsafeMutablePointer<Float>, T: Int, slope: Float) {
        for t in 0..<T {
            let row = p + t * T
            let scores = (0...t).map { Double(row[$0]) + Double(slope) * Double($0) }
            let m = scores.max()!
            let e = scores.map { exp($0 - m) }
            let sum = e.reduce(0, +)
            for s in 0...t { row[s] = Float(e[s] / sum) }
            (row + t + 1).update(repeating: 0, count: T - t - 1)
        }
    }

    /// dout [B, T, C] -> dqkv [B, T, 3C] (overwritten). `scratch` holds T*T floats.
    static func backward(dqkv: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
                         qkv: UnsafePointer<Float>, probs: UnsafePointer<Float>,
                         scratch: UnsafeMutablePointer<Float>,
                         batch B: Int, sequence T: Int, heads H: Int, headDim D: Int, blockRows: Int = 128) {
        let C = H * D, C3 = 3 * C
        let scale = 1 / Float(D).squareRoot()
        for b in 0..<B {
            for h in 0..<H {
                let q = qkv + b * T * C3 + h * 3 * D
                let k = q + D, v = q + 2 * D
                let dq = dqkv + b * T * C3 + h * 3 * D
                let dk = dq + D, dv = dq + 2 * D
                let p = probs + (b * H + h) * T * T
                let dO = dout + b * T * C + h * D
                let dp = scratch
                // dP [r0..<r1, 0..<r1] = dO V^T (only s <= t is read below);
                // dV [c0..<c1, D] = P[c0..<T, c0..<c1]^T dO[c0..<T] (P is zero for t < s)
                for r0 in stride(from: 0, to: T, by: blockRows) {
                    let r1 = min(T, r0 + blockRows)
                    sgemm(transB: true, m: r1 - r0, n: r1, k: D, a: dO + r0 * C, lda: C, b: v, ldb: C3, c: dp + r0 * T, ldc: T)
                    sgemm(transA: true, m: r1 - r0, n: D, k: T - r0, a: p + r0 * T + r0, lda: T, b: dO + r0 * C, ldb: C,
                          c: dv + r0 * C3, ldc: C3)
                }
                // dS = P * (dP - rowsum(P * dP)), in place over dP (zero above the diagonal)
                for t in 0..<T {
                    let pr = p + t * T, dr = dp + t * T
                    var dot = 0.0
                    for s in 0...t { dot += Double(pr[s]) * Double(dr[s]) }
                    for s in 0...t { dr[s] = pr[s] * (dr[s] - Float(dot)) }
                    (dr + t + 1).update(repeating: 0, count: T - t - 1)
                }
                // dQ [r0..<r1] = scale dS[r0..<r1, 0..<r1] K[0..<r1]; dK [c0..<c1] = scale dS[c0..<T, c0..<c1]^T Q[c0..<T]
                for r0 in stride(from: 0, to: T, by: blockRows) {
                    let r1 = min(T, r0 + blockRows)
                    sgemm(m: r1 - r0, n: D, k: r1, alpha: scale, a: dp + r0 * T, lda: T, b: k, ldb: C3, c: dq + r0 * C3, ldc: C3)
                    sgemm(transA: true, m: r1 - r0, n: D, k: T - r0, alpha: scale, a: dp + r0 * T + r0, lda: T,
                          b: q + r0 * C3, ldb: C3, c: dk + r0 * C3, ldc: C3)
                }
            }
        }
    }
}
