/// LayerNorm over the last dimension (biased variance, as torch.nn.LayerNorm).
/// Rows are split over `Parallel`'s threads; every row's result is computed the same way on any
/// thread count, and backward's sums over rows go through fixed chunks of rows, added in order,
/// so both directions give the same bits on any number of threads.
public enum LayerNorm {
    /// x [N, C] -> out [N, C]; saves mean [N] and rstd [N] for backward.
    public static func forward(out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>,
                               rstd: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
                               weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                               rows N: Int, channels C: Int, eps: Float) {
        let invC = 1 / Float(C)
        Parallel.forEachRange(N, grain: Parallel.rowGrain(floatsPerRow: C)) { rows in
            for n in rows {
                let xr = x + n * C, yr = out + n * C
                let m = vsum(xr, C) * invC
                let mv = Vec(repeating: m)
                var acc = Vec()
                // a tail's padding lanes hold the mean: they add 0 to the variance
                @_transparent func variance(_ i: Int, _ lanes: Int) { let d = load(xr + i, count: lanes, fill: m) - mv; acc += d * d }
                forEachVector(C, variance)
                let s = 1 / (acc.sum() * invC + eps).squareRoot()
                let sv = Vec(repeating: s)
                @_transparent func normalize(_ i: Int, _ lanes: Int) {
                    let norm = (load(xr + i, count: lanes) - mv) * sv
                    store(norm * load(weight + i, count: lanes) + load(bias + i, count: lanes), yr + i, count: lanes)
                }
                forEachVector(C, normalize)
                mean[n] = m
                rstd[n] = s
            }
        }
    }

    /// Rows per chunk of backward's dweight/dbias sums: each chunk has its own [2C] partial sums,
    /// added in chunk order at the end, so the result does not depend on the thread count.
    static let chunkRows = 32

    /// dout [N, C] -> dx [N, C] (accumulated: +=), dweight [C] and dbias [C] (accumulated).
    public static func backward(dx: UnsafeMutablePointer<Float>, dweight: UnsafeMutablePointer<Float>,
                                dbias: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
                                x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                                rows N: Int, channels C: Int) {
        let chunks = (N + chunkRows - 1) / chunkRows
        let partial = UnsafeMutablePointer<Float>.allocate(capacity: chunks * 2 * C)   // [chunks, 2, C]: dweight, dbias
        defer { partial.deallocate() }
        partial.initialize(repeating: 0, count: chunks * 2 * C)
        Parallel.forEachRange(chunks, grain: Parallel.rowGrain(floatsPerRow: chunkRows * C)) { range in
            for chunk in range {
                let dw = partial + chunk * 2 * C, db = dw + C
                for n in chunk * chunkRows..<min(N, (chunk + 1) * chunkRows) {
                    rowBackward(dx: dx + n * C, dweight: dw, dbias: db, dout: dout + n * C, x: x + n * C, weight: weight,
                                mean: mean[n], rstd: rstd[n], channels: C)
                }
            }
        }
        for chunk in 0..<chunks {
            vadd(dweight, partial + chunk * 2 * C, C)
            vadd(dbias, partial + chunk * 2 * C + C, C)
        }
    }

    /// One row of `backward`: dout [C] -> dx [C] (+=), dweight [C] and dbias [C] (+=).
    @inline(__always) static func rowBackward(dx: UnsafeMutablePointer<Float>, dweight: UnsafeMutablePointer<Float>,
                                              dbias: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
                                              x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                              mean: Float, rstd: Float, channels C: Int) {
        let mv = Vec(repeating: mean), sv = Vec(repeating: rstd)
        // mean(dnorm) and mean(dnorm * norm), dnorm = dout * weight (a tail's padding lanes have dout = 0)
        var a1 = Vec(), a2 = Vec()
        @_transparent func sums(_ i: Int, _ lanes: Int) {
            let dy = load(dout + i, count: lanes)
            let norm = (load(x + i, count: lanes) - mv) * sv
            let dn = dy * load(weight + i, count: lanes)
            a1 += dn; a2 += dn * norm
            store(load(dbias + i, count: lanes) + dy, dbias + i, count: lanes)
            store(load(dweight + i, count: lanes) + dy * norm, dweight + i, count: lanes)
        }
        forEachVector(C, sums)
        let invC = 1 / Float(C)
        let m1 = Vec(repeating: a1.sum() * invC), m2 = Vec(repeating: a2.sum() * invC)
        @_transparent func inputGradient(_ i: Int, _ lanes: Int) {
            let norm = (load(x + i, count: lanes) - mv) * sv
            let dn = load(dout + i, count: lanes) * load(weight + i, count: lanes)
            store(load(dx + i, count: lanes) + (dn - m1 - norm * m2) * sv, dx + i, count: lanes)
        }
        forEachVector(C, inputGradient)
    }
}
