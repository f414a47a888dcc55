import BLAS

/// Causal multi-head self-attention with ALiBi over BLOOM's fused QKV, whose 3C outputs per token
/// are laid out [H, 3, D] (head-interleaved): head h's query at h*3D, key at h*3D + D, value at h*3D + 2D.
/// scores[t, s] = q_t . k_s / sqrt(D) + slope_h * s for s <= t; softmax over s; out_t = sum_s p[t,s] v_s.
public enum Attention {
    /// qkv [B, T, 3C] -> out [B, T, C] (heads merged: head h in columns h*D..<(h+1)*D);
    /// saves probs [B, H, T, T] (zero above the diagonal) for backward.
    /// Rows are processed in blocks of `blockRows` queries: block [r0, r1) needs keys [0, r1) only,
    /// so the all-masked upper blocks of the T x T products are never computed.
    public static func forward(out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
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

    /// Adds ALiBi, masks s > t, and turns each row of p [T, T] into probabilities in place.
    /// Rows go to `Parallel`'s threads in pairs t and T-1-t, which together cost T+1 keys, so the
    /// parts are even although row t costs t+1; each row is computed the same way on any thread count.
    static func softmaxCausalRows(_ p: UnsafeMutablePointer<Float>, T: Int, slope: Float) {
        func causalRow(_ t: Int) {
            let row = p + t * T
            softmaxALiBiRow(row, keys: t + 1, slope: slope)
            (row + t + 1).update(repeating: 0, count: T - t - 1)
        }
        Parallel.forEachRange((T + 1) / 2, grain: Parallel.rowGrain(floatsPerRow: T + 1)) { pairs in
            for t in pairs {
                causalRow(t)
                if T - 1 - t != t { causalRow(T - 1 - t) }
            }
        }
    }

    static let ramp = Vec((0..<16).map { Float($0) })   // 0, 1, ..., 15: key offsets within a vector

    /// One query's scores over keys 0..<n [n] -> probabilities: adds slope * s to key s's score,
    /// then softmax, in place.
    static func softmaxALiBiRow(_ row: UnsafeMutablePointer<Float>, keys n: Int, slope: Float) {
        let ramp = Self.ramp
        // a tail's padding lanes hold -inf: they do not change the max, and exp gives them 0
        var mx = Vec(repeating: -.infinity)
        forEachVector(n) { i, lanes in
            let s = load(row + i, count: lanes, fill: -.infinity) + slope * (ramp + Float(i))
            store(s, row + i, count: lanes); mx = vmax(mx, s)
        }
        let mv = Vec(repeating: mx.max())
        var acc = Vec()
        forEachVector(n) { i, lanes in
            let e = vexp(load(row + i, count: lanes, fill: -.infinity) - mv)
            store(e, row + i, count: lanes); acc += e
        }
        let inv = Vec(repeating: 1 / acc.sum())
        forEachVector(n) { i, lanes in store(load(row + i, count: lanes) * inv, row + i, count: lanes) }
    }

    /// dout [B, T, C] -> dqkv [B, T, 3C] (overwritten). `scratch` holds T*T floats.
    public static func backward(dqkv: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
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
                    let n = t + 1
                    var acc = Vec()
                    var i = 0
                    while i + 16 <= n { acc += load(pr + i) * load(dr + i); i += 16 }
                    var dot = acc.sum()
                    while i < n { dot += pr[i] * dr[i]; i += 1 }
                    let dv = Vec(repeating: dot)
                    i = 0
                    while i + 16 <= n { store(load(pr + i) * (load(dr + i) - dv), dr + i); i += 16 }
                    while i < n { dr[i] = pr[i] * (dr[i] - dot); i += 1 }
                    (dr + n).update(repeating: 0, count: T - n)
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
