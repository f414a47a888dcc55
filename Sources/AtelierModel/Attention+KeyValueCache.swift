import BLAS

extension Attention {
    /// Causal ALiBi attention of `rows` new queries, at positions p0..<p0+rows with p0 = cache.count,
    /// over the cached keys 0..<p0+rows (the new rows' keys already stored): the same scores,
    /// softmax and weighted sum as `forward`, one block of query rows against the cache.
    /// qkv [rows, 3C] (only the queries are read) -> out [rows, C] (heads merged).
    /// `scores` holds rows * cache.capacity floats.
    public static func forward(out: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>, rows N: Int,
                               cache: KeyValueCache, layer l: Int, slopes: [Float], scores: UnsafeMutablePointer<Float>) {
        let H = cache.heads, D = cache.headDim, C = H * D, C3 = 3 * C, ld = cache.capacity
        let p0 = cache.count, keys = p0 + N
        precondition(keys <= cache.capacity)
        let scale = 1 / Float(D).squareRoot()
        for h in 0..<H {
            let k = cache.keys(layer: l, head: h), v = cache.values(layer: l, head: h)
            // scores [N, keys] = q k^T / sqrt(D)
            sgemm(transB: true, m: N, n: keys, k: D, alpha: scale, a: qkv + h * 3 * D, lda: C3, b: k, ldb: D,
                  c: scores, ldc: ld)
            for r in 0..<N {
                let row = scores + r * ld
                softmaxALiBiRow(row, keys: p0 + r + 1, slope: slopes[h])
                (row + p0 + r + 1).update(repeating: 0, count: N - r - 1)   // keys after the query
            }
            // out [N, D] = P [N, keys] v [keys, D]
            sgemm(m: N, n: D, k: keys, a: scores, lda: ld, b: v, ldb: D, c: out + h * D, ldc: C)
        }
    }
}
