import BLAS
#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif

/// Causal multi-head self-attention with ALiBi over BLOOM's fused QKV, whose 3C outputs per token
/// are laid out [H, 3, D] (head-interleaved): head h's query at h*3D, key at h*3D + D, value at h*3D + 2D.
/// scores[t, s] = q_t . k_s / sqrt(D) + slope_h * s for s <= t; softmax over s; out_t = sum_s p[t,s] v_s.
///
/// Flash attention (Dao et al. 2022, FlashAttention-2's loop order): queries and keys are cut into
/// tiles, the softmax is taken online tile by tile, and only out and each query's log-sum-exp are
/// kept; backward recomputes each tile's probabilities from q, k and lse. Nothing [T, T] is stored.
/// Key tiles entirely after a query tile are skipped; tiles that cross the diagonal are masked.
/// Each tile product is one sgemm small enough (m*n*k <= 262144) that OpenBLAS runs it on the
/// calling thread, so items (one per batch row and head) run concurrently on `Parallel`'s threads.
/// Each item first copies its head's keys (and in backward its values) transposed, tile by tile:
/// q k^T is then a plain product, which OpenBLAS runs through its small-matrix kernels, where a
/// transposed-B product of this size goes through its packing path (about 10% slower overall).
/// Scratch per thread: two [tile, tile] tiles, [T] per query, and [T, D] of transposed keys (values).
public enum Attention {
    /// qkv [B, T, 3C] -> out [B, T, C] (heads merged: head h in columns h*D..<(h+1)*D);
    /// lse [B, H, T]: the natural log of each query's softmax denominator, its max included
    /// (p[t, s] = exp(score[t, s] - lse[t])). `tile` queries per tile (keys per tile: `keyTile`).
    public static func forward(out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
                               qkv: UnsafePointer<Float>, slopes: [Float],
                               batch B: Int, sequence T: Int, heads H: Int, headDim D: Int, tile: Int = 64) {
        let C = H * D, C3 = 3 * C
        let scale = 1 / Float(D).squareRoot()
        let Br = tile, Bc = keyTile(queries: tile, headDim: D)
        let keyTiles = (T + Bc - 1) / Bc
        // items (b, h), each writing its own columns of out and its rows of lse
        Parallel.forEachRange(B * H) { items in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: Br * Bc + 4 * Br + keyTiles * D * Bc)
            defer { scratch.deallocate() }
            let p = scratch                                   // [Br, Bc] scores, then probabilities
            let rowMax = scratch + Br * Bc, rowSum = rowMax + Br   // [Br] running max and sum of exp
            let rescale = rowSum + Br                               // [Br] tile max, then exp(old max - new max)
            let tileSum = rescale + Br                              // [Br] the tile's sum of exp
            let kt = tileSum + Br                                   // [keyTiles, D, Bc] the head's keys, transposed by tile
            for bh in items {
                let (b, h) = bh.quotientAndRemainder(dividingBy: H)
                let q = qkv + b * T * C3 + h * 3 * D
                let k = q + D, v = q + 2 * D
                transposeTiles(k, rows: T, columns: D, ld: C3, tile: Bc, into: kt)
                for r0 in stride(from: 0, to: T, by: Br) {
                    let rows = min(Br, T - r0)
                    let o = out + (b * T + r0) * C + h * D           // [rows, D], row stride C
                    rowMax.update(repeating: -.infinity, count: rows)
                    rowSum.update(repeating: 0, count: rows)
                    for c0 in stride(from: 0, to: r0 + rows, by: Bc) {
                        let keys = min(Bc, r0 + rows - c0)
                        // p [rows, keys] = q k^T / sqrt(D)
                        sgemm(m: rows, n: keys, k: D, alpha: scale, a: q + r0 * C3, lda: C3,
                              b: kt + c0 * D, ldb: Bc, c: p, ldc: Bc)
                        maskedALiBiScores(p, ld: Bc, rows: rows, keys: keys, firstQuery: r0, firstKey: c0, slope: slopes[h], rowMax: rescale)
                        // the running max takes the tile's; what was summed under the old max is rescaled (0 at the
                        // first tile, where every query sees key 0, so the max is finite from then on)
                        @_transparent func rescaleRow(_ i: Int, _ lanes: Int) {
                            let old = load(rowMax + i, count: lanes), new = vmax(old, load(rescale + i, count: lanes))
                            store(new, rowMax + i, count: lanes)
                            store(vexp(old - new).replacing(with: 0, where: old .== -.infinity), rescale + i, count: lanes)
                        }
                        forEachVector(rows, rescaleRow)
                        exponentiate(p, ld: Bc, rows: rows, keys: keys, minus: rowMax, sums: tileSum)
                        for r in 0..<rows {
                            rowSum[r] = rowSum[r] * rescale[r] + tileSum[r]
                            if c0 > 0 && rescale[r] != 1 { scaleRow(o + r * C, count: D, by: rescale[r]) }
                        }
                        // o [rows, D] (+)= p [rows, keys] v [keys, D]; the first key tile has a visible key on every row
                        sgemm(m: rows, n: D, k: keys, a: p, lda: Bc, b: v + c0 * C3, ldb: C3, beta: c0 == 0 ? 0 : 1, c: o, ldc: C)
                    }
                    for r in 0..<rows {
                        scaleRow(o + r * C, count: D, by: 1 / rowSum[r])
                        lse[bh * T + r0 + r] = rowMax[r] + log(rowSum[r])
                    }
                }
            }
        }
    }

    /// dout [B, T, C], out [B, T, C] and lse [B, H, T] from `forward`, qkv [B, T, 3C] -> dqkv [B, T, 3C]
    /// (overwritten). One item per (b, h), on one thread: key tiles outside (each owns its dK, dV rows),
    /// query tiles inside, dQ accumulated in place, so no two threads write the same row and the
    /// result is the same on any number of threads.
    public static func backward(dqkv: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
                                out: UnsafePointer<Float>, lse: UnsafePointer<Float>, qkv: UnsafePointer<Float>,
                                slopes: [Float], batch B: Int, sequence T: Int, heads H: Int, headDim D: Int, tile: Int = 64) {
        let C = H * D, C3 = 3 * C
        let scale = 1 / Float(D).squareRoot()
        let Br = tile, Bc = keyTile(queries: tile, headDim: D)
        Parallel.forEachRange(B * H) { items in
            let keyTiles = (T + Bc - 1) / Bc
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 2 * Br * Bc + T + 2 * keyTiles * D * Bc)
            defer { scratch.deallocate() }
            let p = scratch, dp = scratch + Br * Bc           // [Br, Bc] probabilities; dP, then dS
            let delta = dp + Br * Bc                           // [T] rowsum(dO * O) per query
            let kt = delta + T, vt = kt + keyTiles * D * Bc    // [keyTiles, D, Bc] the head's keys and values, transposed by tile
            for bh in items {
                let (b, h) = bh.quotientAndRemainder(dividingBy: H)
                let q = qkv + b * T * C3 + h * 3 * D
                let k = q + D, v = q + 2 * D
                let dq = dqkv + b * T * C3 + h * 3 * D
                let dk = dq + D, dv = dq + 2 * D
                let o = out + b * T * C + h * D, dO = dout + b * T * C + h * D   // [T, D], row stride C
                let l = lse + bh * T
                for t in 0..<T { delta[t] = dot(dO + t * C, o + t * C, count: D) }
                transposeTiles(k, rows: T, columns: D, ld: C3, tile: Bc, into: kt)
                transposeTiles(v, rows: T, columns: D, ld: C3, tile: Bc, into: vt)
                for c0 in stride(from: 0, to: T, by: Bc) {
                    let keys = min(Bc, T - c0)
                    let firstRow = c0 / Br * Br                  // the query tile holding query c0: earlier ones see none of these keys
                    for r0 in stride(from: firstRow, to: T, by: Br) {
                        let rows = min(Br, T - r0)
                        let first: Float = r0 == firstRow ? 0 : 1   // beta: the first query tile starts dK, dV
                        // p [rows, keys] = exp(q k^T / sqrt(D) + ALiBi - lse), zero where s > t
                        sgemm(m: rows, n: keys, k: D, alpha: scale, a: q + r0 * C3, lda: C3, b: kt + c0 * D, ldb: Bc,
                              c: p, ldc: Bc)
                        probabilities(p, ld: Bc, rows: rows, keys: keys, firstQuery: r0, firstKey: c0, slope: slopes[h], lse: l + r0)
                        // dV [keys, D] (+)= p^T dO
                        sgemm(transA: true, m: keys, n: D, k: rows, a: p, lda: Bc, b: dO + r0 * C, ldb: C,
                              beta: first, c: dv + c0 * C3, ldc: C3)
                        // dP [rows, keys] = dO v^T; dS = p * (dP - delta), in place
                        sgemm(m: rows, n: keys, k: D, a: dO + r0 * C, lda: C, b: vt + c0 * D, ldb: Bc, c: dp, ldc: Bc)
                        softmaxBackward(dp, probabilities: p, ld: Bc, rows: rows, keys: keys, delta: delta + r0)
                        // dK [keys, D] (+)= dS^T q / sqrt(D); dQ [rows, D] (+)= dS k / sqrt(D) (key tile 0 reaches every query tile first)
                        sgemm(transA: true, m: keys, n: D, k: rows, alpha: scale, a: dp, lda: Bc, b: q + r0 * C3, ldb: C3,
                              beta: first, c: dk + c0 * C3, ldc: C3)
                        sgemm(m: rows, n: D, k: keys, alpha: scale, a: dp, lda: Bc, b: k + c0 * C3, ldb: C3,
                              beta: c0 == 0 ? 0 : 1, c: dq + r0 * C3, ldc: C3)
                    }
                }
            }
        }
    }

    /// Keys per tile for `queries` queries per tile: as many (up to `queries`) as keep each tile
    /// product within OpenBLAS's single-thread size, m*n*k <= 262144 (64 at D = 64, 32 at D = 128).
    static func keyTile(queries: Int, headDim D: Int) -> Int {
        precondition(queries > 0, "an attention tile holds at least one query")
        return max(1, min(queries, 262_144 / max(1, queries * D)))
    }

    /// dst [tiles, columns, tile] = src [rows, columns] (row stride ld) cut into tiles of `tile` rows,
    /// each transposed (the last tile's missing rows are left as they are): a tile is then a plain
    /// [columns, tile] matrix with row stride `tile`, for products by src^T. Sixteen rows at a time
    /// (one column of them gathered into a vector, stored whole): 2-4x the speed of one float at a
    /// time, whose stores went 256 bytes apart.
    static func transposeTiles(_ src: UnsafePointer<Float>, rows: Int, columns: Int, ld: Int, tile: Int,
                               into dst: UnsafeMutablePointer<Float>) {
        var r = 0
        while r < rows {
            let t = dst + (r / tile) * columns * tile + r % tile
            let s = src + r * ld
            if r % tile + 16 <= tile && r + 16 <= rows {
                for c in 0..<columns {
                    store(Vec(s[c], s[ld + c], s[2 * ld + c], s[3 * ld + c], s[4 * ld + c], s[5 * ld + c], s[6 * ld + c], s[7 * ld + c],
                              s[8 * ld + c], s[9 * ld + c], s[10 * ld + c], s[11 * ld + c], s[12 * ld + c], s[13 * ld + c],
                              s[14 * ld + c], s[15 * ld + c]), t + c * tile)
                }
                r += 16
            } else {
                for c in 0..<columns { t[c * tile] = s[c] }
                r += 1
            }
        }
    }

    /// 0, 1, ..., 15: key offsets within a vector (a constant, so the hot loops read it from no global).
    @inline(__always) static var ramp: Vec { Vec(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15) }

    // The tile kernels below run over all rows of a tile in one call, each row's vectors inlined
    // (a call per row and kernel cost about as much as the row's arithmetic), and mask keys by a
    // vector compare of their index with the query's (one instruction, where a partly visible
    // vector was loaded lane by lane).

    /// Lanes i..<i+lanes of one query's scores over a key tile (keys firstKey..<) with ALiBi added,
    /// score + slope * s for key s, and which of them are keys after the query: the tile's keys
    /// from `visible` on. A tail's padding lanes load -inf, which the slope leaves -inf.
    @_transparent
    static func alibiScores(_ row: UnsafePointer<Float>, _ i: Int, _ lanes: Int, firstKey: Int, slope: Float,
                            visible: Float) -> (scores: Vec, masked: SIMDMask<Vec.MaskStorage>) {
        let key = ramp + Float(i)
        return (load(row + i, count: lanes, fill: -.infinity) + slope * (key + Float(firstKey)), key .>= visible)
    }

    /// Scores of a tile p [rows, keys] (row stride ld) for queries firstQuery..< and keys firstKey..<:
    /// adds slope * s to key s's score and sets keys after the query to -inf, in place;
    /// rowMax [rows] = each row's max (-inf when no key is visible).
    @inline(never)
    static func maskedALiBiScores(_ p: UnsafeMutablePointer<Float>, ld: Int, rows: Int, keys n: Int, firstQuery: Int,
                                  firstKey: Int, slope: Float, rowMax: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let row = p + r * ld
            let visible = Float(firstQuery + r - firstKey + 1)   // the tile's keys below this are at or before the query
            var mx = Vec(repeating: -.infinity)
            @_transparent func score(_ i: Int, _ lanes: Int) {
                let (scores, masked) = alibiScores(row, i, lanes, firstKey: firstKey, slope: slope, visible: visible)
                let s = scores.replacing(with: -.infinity, where: masked)
                store(s, row + i, count: lanes)
                mx = vmax(mx, s)
            }
            forEachVector(n, score)
            rowMax[r] = laneMax(mx)
        }
    }

    /// p [rows, keys] = exp(p - shift[r]) row by row, exactly 0 where p is -inf (masked);
    /// sums [rows] = each row's sum.
    @inline(never)
    static func exponentiate(_ p: UnsafeMutablePointer<Float>, ld: Int, rows: Int, keys n: Int, minus shift: UnsafePointer<Float>,
                             sums: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let row = p + r * ld
            let sv = Vec(repeating: shift[r])
            var acc = Vec()
            @_transparent func exponentiate(_ i: Int, _ lanes: Int) {
                let x = load(row + i, count: lanes, fill: -.infinity)
                let e = vexp(x - sv).replacing(with: 0, where: x .== -.infinity)
                store(e, row + i, count: lanes)
                acc += e
            }
            forEachVector(n, exponentiate)
            sums[r] = laneSum(acc)
        }
    }

    /// Backward's probabilities of a tile, from its scores p [rows, keys] = q k^T / sqrt(D) (row
    /// stride ld), queries firstQuery..< (lse [rows] theirs), keys firstKey..<: p = exp(score +
    /// slope * s - lse), 0 for keys after the query, in place. The same floats as
    /// `maskedALiBiScores` then `exponentiate` by lse, in one pass.
    @inline(never)
    static func probabilities(_ p: UnsafeMutablePointer<Float>, ld: Int, rows: Int, keys n: Int, firstQuery: Int,
                              firstKey: Int, slope: Float, lse: UnsafePointer<Float>) {
        for r in 0..<rows {
            let row = p + r * ld
            let visible = Float(firstQuery + r - firstKey + 1)
            let shift = Vec(repeating: lse[r])
            @_transparent func probability(_ i: Int, _ lanes: Int) {
                let (scores, masked) = alibiScores(row, i, lanes, firstKey: firstKey, slope: slope, visible: visible)
                store(vexp(scores - shift).replacing(with: 0, where: masked), row + i, count: lanes)
            }
            forEachVector(n, probability)
        }
    }

    /// Softmax's backward for a tile: dS = p * (dP - delta), delta [rows] = rowsum(dO * O) per query
    /// (= the full row's sum of p * dP), in place over dP [rows, keys] (row stride ld, as p's).
    @inline(never)
    static func softmaxBackward(_ dp: UnsafeMutablePointer<Float>, probabilities p: UnsafePointer<Float>, ld: Int,
                                rows: Int, keys n: Int, delta: UnsafePointer<Float>) {
        for r in 0..<rows {
            let dpr = dp + r * ld, pr = p + r * ld
            let dv = Vec(repeating: delta[r])
            @_transparent func backward(_ i: Int, _ lanes: Int) {
                store(load(pr + i, count: lanes) * (load(dpr + i, count: lanes) - dv), dpr + i, count: lanes)
            }
            forEachVector(n, backward)
        }
    }

    /// x [n] *= factor.
    @inline(__always)
    static func scaleRow(_ x: UnsafeMutablePointer<Float>, count n: Int, by factor: Float) {
        let f = Vec(repeating: factor)
        @_transparent func scale(_ i: Int, _ lanes: Int) { store(load(x + i, count: lanes) * f, x + i, count: lanes) }
        forEachVector(n, scale)
    }

    /// a . b over n floats.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count n: Int) -> Float {
        var acc = Vec()
        @_transparent func multiplyAdd(_ i: Int, _ lanes: Int) { acc += load(a + i, count: lanes) * load(b + i, count: lanes) }
        forEachVector(n, multiplyAdd)
        return laneSum(acc)
    }

    /// One query's scores over keys 0..<n [n] -> probabilities: adds slope * s to key s's score,
    /// then softmax, in place.
    static func softmaxALiBiRow(_ row: UnsafeMutablePointer<Float>, keys n: Int, slope: Float) {
        // a tail's padding lanes hold -inf: they do not change the max, and exp gives them 0
        var mx = Vec(repeating: -.infinity)
        @_transparent func score(_ i: Int, _ lanes: Int) {
            let s = alibiScores(row, i, lanes, firstKey: 0, slope: slope, visible: Float(n)).scores   // every key is visible
            store(s, row + i, count: lanes); mx = vmax(mx, s)
        }
        forEachVector(n, score)
        let mv = Vec(repeating: mx.max())
        var acc = Vec()
        @_transparent func exponentiate(_ i: Int, _ lanes: Int) {
            let e = vexp(load(row + i, count: lanes, fill: -.infinity) - mv)
            store(e, row + i, count: lanes); acc += e
        }
        forEachVector(n, exponentiate)
        let inv = Vec(repeating: 1 / acc.sum())
        @_transparent func normalize(_ i: Int, _ lanes: Int) { store(load(row + i, count: lanes) * inv, row + i, count: lanes) }
        forEachVector(n, normalize)
    }
}
