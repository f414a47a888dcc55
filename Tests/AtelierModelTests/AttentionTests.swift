import AtelierModel
import BLAS
import XCTest

/// Flash attention against the materialised reference, against log-sum-exp in Double, and across
/// thread counts. (Its finite-difference check is in OpGradientTests.)
final class AttentionTests: XCTestCase {
    struct Shape {
        var B: Int, T: Int, H: Int, D: Int, tile: Int
        var C: Int { H * D }
    }

    /// Tiles that do not divide T, T = 1, one query tile over several key tiles (D = 128: 32 keys
    /// per 64-query tile), odd D, and the default tile over several tiles.
    let shapes = [Shape(B: 2, T: 37, H: 3, D: 16, tile: 8), Shape(B: 1, T: 1, H: 2, D: 8, tile: 64),
                  Shape(B: 2, T: 21, H: 3, D: 5, tile: 4), Shape(B: 1, T: 100, H: 2, D: 128, tile: 64),
                  Shape(B: 2, T: 150, H: 4, D: 64, tile: 64), Shape(B: 1, T: 33, H: 2, D: 16, tile: 1)]

    struct Result { var out: [Float], lse: [Float], dqkv: [Float] }

    func flash(_ s: Shape, qkv: [Float], dout: [Float]) -> Result {
        let slopes = ALiBi.slopes(heads: s.H)
        var out = [Float](repeating: .nan, count: s.B * s.T * s.C), lse = [Float](repeating: .nan, count: s.B * s.H * s.T)
        Attention.forward(out: &out, lse: &lse, qkv: qkv, slopes: slopes, batch: s.B, sequence: s.T, heads: s.H, headDim: s.D,
                          tile: s.tile)
        var dqkv = [Float](repeating: .nan, count: qkv.count)
        Attention.backward(dqkv: &dqkv, dout: dout, out: out, lse: lse, qkv: qkv, slopes: slopes,
                           batch: s.B, sequence: s.T, heads: s.H, headDim: s.D, tile: s.tile)
        return Result(out: out, lse: lse, dqkv: dqkv)
    }

    func materialized(_ s: Shape, qkv: [Float], dout: [Float]) -> Result {
        let slopes = ALiBi.slopes(heads: s.H)
        var out = [Float](repeating: 0, count: s.B * s.T * s.C), probs = [Float](repeating: 0, count: s.B * s.H * s.T * s.T)
        MaterializedAttention.forward(out: &out, probs: &probs, qkv: qkv, slopes: slopes, batch: s.B, sequence: s.T,
                                      heads: s.H, headDim: s.D)
        var dqkv = [Float](repeating: 0, count: qkv.count), scratch = [Float](repeating: 0, count: s.T * s.T)
        MaterializedAttention.backward(dqkv: &dqkv, dout: dout, qkv: qkv, probs: probs, scratch: &scratch,
                                       batch: s.B, sequence: s.T, heads: s.H, headDim: s.D)
        return Result(out: out, lse: [], dqkv: dqkv)
    }

    /// lse [B, H, T] in Double straight from the definition: log sum_{s <= t} exp(q_t . k_s / sqrt(D) + slope * s).
    func logSumExp(_ s: Shape, qkv: [Float]) -> [Double] {
        let slopes = ALiBi.slopes(heads: s.H)
        var result: [Double] = []
        for b in 0..<s.B {
            for h in 0..<s.H {
                for t in 0..<s.T {
                    let q = (b * s.T + t) * 3 * s.C + h * 3 * s.D
                    let scores = (0...t).map { key -> Double in
                        let k = (b * s.T + key) * 3 * s.C + h * 3 * s.D + s.D
                        let dot = (0..<s.D).reduce(0.0) { $0 + Double(qkv[q + $1]) * Double(qkv[k + $1]) }
                        return dot / Double(s.D).squareRoot() + Double(slopes[h]) * Double(key)
                    }
                    let m = scores.max()!
                    result.append(m + log(scores.reduce(0.0) { $0 + exp($1 - m) }))
                }
            }
        }
        return result
    }

    /// max |a - b| / max |b|.
    func relativeError(_ a: [Float], _ b: [Float]) -> Float {
        XCTAssertEqual(a.count, b.count)
        let scale = b.map(abs).max() ?? 0
        return zip(a, b).map { abs($0 - $1) }.max().map { $0 / max(scale, .leastNormalMagnitude) } ?? 0
    }

    func inputs(_ s: Shape, seed: UInt64) -> (qkv: [Float], dout: [Float]) {
        (pseudoRandom(s.B * s.T * 3 * s.C, seed: seed, scale: 1.5), pseudoRandom(s.B * s.T * s.C, seed: seed + 1))
    }

    func testMatchesMaterializedAttention() {
        for (n, s) in shapes.enumerated() {
            let (qkv, dout) = inputs(s, seed: 40 + UInt64(2 * n))
            let got = flash(s, qkv: qkv, dout: dout), want = materialized(s, qkv: qkv, dout: dout)
            XCTAssertLessThan(relativeError(got.out, want.out), 1e-5, "out, \(s)")
            XCTAssertLessThan(relativeError(got.dqkv, want.dqkv), 1e-5, "dqkv, \(s)")
            let lse = logSumExp(s, qkv: qkv)
            for i in lse.indices { XCTAssertEqual(Double(got.lse[i]), lse[i], accuracy: 1e-5 * max(1, abs(lse[i])), "lse[\(i)], \(s)") }
        }
    }

    /// A query sees only keys at or before it: changing later keys and values changes nothing before them.
    func testCausalMaskIsExact() {
        let s = Shape(B: 1, T: 40, H: 2, D: 16, tile: 16)
        var (qkv, dout) = inputs(s, seed: 60)
        let before = flash(s, qkv: qkv, dout: dout)
        for t in 20..<s.T { for j in 0..<(3 * s.C) { qkv[t * 3 * s.C + j] *= -3 } }
        let after = flash(s, qkv: qkv, dout: dout)
        XCTAssertEqual(Array(before.out[..<(20 * s.C)]), Array(after.out[..<(20 * s.C)]))
        XCTAssertEqual(Array(before.lse[..<20]), Array(after.lse[..<20]))
    }

    func testOneAndTwoThreadsAgree() {
        let saved = BLASRuntime.threads
        defer { BLASRuntime.setThreads(saved) }
        for (n, s) in shapes.enumerated() {
            let (qkv, dout) = inputs(s, seed: 80 + UInt64(2 * n))
            BLASRuntime.setThreads(1)
            let one = flash(s, qkv: qkv, dout: dout)
            BLASRuntime.setThreads(2)
            let two = flash(s, qkv: qkv, dout: dout)
            XCTAssertLessThan(relativeError(two.out, one.out), 1e-6, "out, \(s)")
            XCTAssertLessThan(relativeError(two.lse, one.lse), 1e-6, "lse, \(s)")
            XCTAssertLessThan(relativeError(two.dqkv, one.dqkv), 1e-6, "dqkv, \(s)")
        }
    }
}
