import COpenBLAS

/// Row-major single-precision matrix multiply through OpenBLAS:
/// C[m, n] = alpha * op(A) * op(B) + beta * C, op(A) [m, k], op(B) [k, n].
/// `lda`, `ldb`, `ldc` are row strides in floats, so strided views (one head of a fused QKV row) work.
@inline(__always)
public func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                  alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                  b: UnsafePointer<Float>, ldb: Int,
                  beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// Row-major single-precision matrix-vector product through OpenBLAS:
/// y[m] = alpha * A x + beta * y, A [m, n] with row stride `lda`, x [n].
@inline(__always)
public func sgemv(m: Int, n: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                  x: UnsafePointer<Float>, beta: Float = 0, y: UnsafeMutablePointer<Float>) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(m), Int32(n), alpha, a, Int32(lda), x, 1, beta, y, 1)
}
