import BLAS

/// y = x W^T + b with a Hugging Face Linear weight W [out, in], through OpenBLAS sgemm.
public enum Linear {
    /// x [N, in] -> y [N, out]. With `accumulate`, y += x W^T + b (a residual add for free).
    public static func forward(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
                               weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                               rows N: Int, inFeatures K: Int, outFeatures M: Int, accumulate: Bool = false) {
        if let bias {
            Parallel.forEachRange(N, grain: Parallel.rowGrain(floatsPerRow: M)) { rows in
                for n in rows {
                    let yr = y + n * M
                    if accumulate { vadd(yr, bias, M) } else { yr.update(from: bias, count: M) }
                }
            }
        }
        let beta: Float = (bias != nil || accumulate) ? 1 : 0
        if N == 1 {
            // One row (a generated token): sgemv streams W once; OpenBLAS 0.3.21's sgemm would first
            // copy (pack) all of W for it, about 3x slower for lm_head's [250880, 1024].
            sgemv(m: M, n: K, a: weight, lda: K, x: x, beta: beta, y: y)
        } else {
            sgemm(transB: true, m: N, n: M, k: K, a: x, lda: K, b: weight, ldb: K, beta: beta, c: y, ldc: M)
        }
    }

    /// dy [N, out] -> dx [N, in] (overwritten), dW [out, in] and db [out] (accumulated).
    public static func backward(dx: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>,
                                dbias: UnsafeMutablePointer<Float>?, dy: UnsafePointer<Float>,
                                x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                rows N: Int, inFeatures K: Int, outFeatures M: Int) {
        if let dx {
            sgemm(m: N, n: K, k: M, a: dy, lda: M, b: weight, ldb: K, beta: 0, c: dx, ldc: K)
        }
        sgemm(transA: true, m: M, n: K, k: N, a: dy, lda: M, b: x, ldb: K, beta: 1, c: dweight, ldc: K)
        if let dbias {
            // db [out] = sum of dy's rows: the threads split the columns and add the rows in order,
            // so the sum is the same on any thread count
            Parallel.forEachRange(M, grain: max(16, Parallel.rowGrain(floatsPerRow: N)), alignment: 16) { columns in
                for n in 0..<N { vadd(dbias + columns.lowerBound, dy + n * M + columns.lowerBound, columns.count) }
            }
        }
    }
}
