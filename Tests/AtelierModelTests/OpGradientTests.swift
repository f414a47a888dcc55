import AtelierModel
import XCTest

/// Each op's hand-written backward against central finite differences of sum(out * R).
final class OpGradientTests: XCTestCase {
    let check = GradientCheck()

    func testLayerNormBackward() {
        let N = 3, C = 37  // C not a multiple of 16: exercises the vector tails
        var x = pseudoRandom(N * C, seed: 1, scale: 2)
        var w = pseudoRandom(C, seed: 2).map { 1 + 0.5 * $0 }
        var b = pseudoRandom(C, seed: 3)
        let r = pseudoRandom(N * C, seed: 4)
        func run(_ x: [Float], _ w: [Float], _ b: [Float]) -> (Double, [Float], [Float], [Float]) {
            var out = [Float](repeating: 0, count: N * C), mean = [Float](repeating: 0, count: N), rstd = mean
            LayerNorm.forward(out: &out, mean: &mean, rstd: &rstd, x: x, weight: w, bias: b, rows: N, channels: C, eps: 1e-5)
            var dx = [Float](repeating: 0, count: N * C), dw = [Float](repeating: 0, count: C), db = dw
            LayerNorm.backward(dx: &dx, dweight: &dw, dbias: &db, dout: r, x: x, weight: w, mean: mean, rstd: rstd, rows: N, channels: C)
            return (out.withUnsafeBufferPointer { weightedSum($0.baseAddress!, r) }, dx, dw, db)
        }
        let (_, dx, dw, db) = run(x, w, b)
        check.verify(&x, analytic: dx, indices: sampleIndices(N * C)) { run($0, w, b).0 }
        check.verify(&w, analytic: dw, indices: sampleIndices(C)) { run(x, $0, b).0 }
        check.verify(&b, analytic: db, indices: sampleIndices(C)) { run(x, w, $0).0 }
    }

    func testLinearBackward() {
        let N = 5, K = 19, M = 23
        var x = pseudoRandom(N * K, seed: 5), w = pseudoRandom(M * K, seed: 6), b = pseudoRandom(M, seed: 7)
        let r = pseudoRandom(N * M, seed: 8)
        func run(_ x: [Float], _ w: [Float], _ b: [Float]) -> (Double, [Float], [Float], [Float]) {
            var y = [Float](repeating: 0, count: N * M)
            Linear.forward(y: &y, x: x, weight: w, bias: b, rows: N, inFeatures: K, outFeatures: M)
            var dx = [Float](repeating: 0, count: N * K), dw = [Float](repeating: 0, count: M * K), db = [Float](repeating: 0, count: M)
            Linear.backward(dx: &dx, dweight: &dw, dbias: &db, dy: r, x: x, weight: w, rows: N, inFeatures: K, outFeatures: M)
            return (y.withUnsafeBufferPointer { weightedSum($0.baseAddress!, r) }, dx, dw, db)
        }
        let (_, dx, dw, db) = run(x, w, b)
        check.verify(&x, analytic: dx, indices: sampleIndices(N * K)) { run($0, w, b).0 }
        check.verify(&w, analytic: dw, indices: sampleIndices(M * K)) { run(x, $0, b).0 }
        check.verify(&b, analytic: db, indices: sampleIndices(M)) { run(x, w, $0).0 }
    }

    func testLinearForwardMatchesNaiveProduct() {
        let N = 3, K = 4, M = 2
        let x: [Float] = (0..<N * K).map { Float($0) }
        let w: [Float] = (0..<M * K).map { Float($0) * 0.5 - 1 }
        let b: [Float] = [0.25, -0.75]
        var y = [Float](repeating: 0, count: N * M)
        Linear.forward(y: &y, x: x, weight: w, bias: b, rows: N, inFeatures: K, outFeatures: M)
        for n in 0..<N {
            for m in 0..<M {
                let expected = (0..<K).reduce(b[m]) { $0 + x[n * K + $1] * w[m * K + $1] }
                XCTAssertEqual(y[n * M + m], expected, accuracy: 1e-5)
            }
        }
    }

    /// One row takes the matrix-vector path: with a bias, without, and accumulating (a residual add).
    func testLinearForwardOfOneRowMatchesNaiveProduct() {
        let K = 5, M = 3
        let x: [Float] = [1, -2, 0.5, 3, -1]
        let w: [Float] = (0..<M * K).map { Float($0) * 0.25 - 1 }
        let b: [Float] = [0.5, -0.25, 2]
        let product = (0..<M).map { m in (0..<K).reduce(Float(0)) { $0 + x[$1] * w[m * K + $1] } }
        var y = [Float](repeating: 9, count: M)
        Linear.forward(y: &y, x: x, weight: w, bias: b, rows: 1, inFeatures: K, outFeatures: M)
        XCTAssertEqual(y, zip(product, b).map(+))
        Linear.forward(y: &y, x: x, weight: w, bias: nil, rows: 1, inFeatures: K, outFeatures: M)
        XCTAssertEqual(y, product)
        Linear.forward(y: &y, x: x, weight: w, bias: b, rows: 1, inFeatures: K, outFeatures: M, accumulate: true)
        XCTAssertEqual(y, (0..<M).map { product[$0] + product[$0] + b[$0] })
    }

    func testGeLUForwardAndBackward() {
        let n = 53
        var x = pseudoRandom(n, seed: 9, scale: 4)
        let r = pseudoRandom(n, seed: 10)
        func forward(_ x: [Float]) -> [Float] {
            var out = [Float](repeating: 0, count: n)
            GeLU.forward(out: &out, x: x, count: n)
            return out
        }
        // against the defining formula in double precision
        for (v, o) in zip(x, forward(x)) {
            let d = Double(v)
            let expected = 0.5 * d * (1 + tanh(0.79788456 * d * (1 + 0.044715 * d * d)))
            XCTAssertEqual(Double(o), expected, accuracy: 2e-6)
        }
        var dx = r
        GeLU.backward(dinout: &dx, x: x, count: n)
        check.verify(&x, analytic: dx, indices: Array(0..<n)) { x in forward(x).withUnsafeBufferPointer { weightedSum($0.baseAddress!, r) } }
    }

    func testAttentionBackward() {
        for tile in [64, 8, 1] { checkAttention(tile: tile) }
    }

    /// tile < T exercises the causal tile skipping and the masked diagonal tiles (T = 21 is not a
    /// multiple of 8); T > 16 exercises full vectors of a key tile.
    func checkAttention(tile: Int) {
        let B = 2, T = 21, H = 3, D = 5, C = H * D
        var qkv = pseudoRandom(B * T * 3 * C, seed: 11, scale: 1.5)
        let r = pseudoRandom(B * T * C, seed: 12)
        let slopes = ALiBi.slopes(heads: H)
        func forward(_ qkv: [Float]) -> (out: [Float], lse: [Float]) {
            var out = [Float](repeating: 0, count: B * T * C), lse = [Float](repeating: 0, count: B * H * T)
            Attention.forward(out: &out, lse: &lse, qkv: qkv, slopes: slopes, batch: B, sequence: T, heads: H, headDim: D,
                              tile: tile)
            return (out, lse)
        }
        let (out, lse) = forward(qkv)
        var dqkv = [Float](repeating: 0, count: B * T * 3 * C)
        Attention.backward(dqkv: &dqkv, dout: r, out: out, lse: lse, qkv: qkv, slopes: slopes, batch: B, sequence: T, heads: H,
                           headDim: D, tile: tile)
        check.verify(&qkv, analytic: dqkv, indices: sampleIndices(B * T * 3 * C, count: 60)) { q in
            forward(q).out.withUnsafeBufferPointer { weightedSum($0.baseAddress!, r) }
        }
    }

    func testCrossEntropyLossAndGradient() {
        let N = 4, V = 41
        var logits = pseudoRandom(N * V, seed: 13, scale: 3)
        let targets: [Int32] = [3, CrossEntropy.ignoreIndex, 40, 0]
        func loss(_ l: [Float]) -> Double {
            var copy = l
            return CrossEntropy.forwardBackward(logits: &copy, targets: targets, rows: N, vocab: V, gradientScale: nil).loss
        }
        // against log-sum-exp in double precision
        var expected = 0.0
        for n in [0, 2, 3] {
            let row = logits[n * V..<(n + 1) * V].map(Double.init)
            let m = row.max()!
            expected += log(row.map { exp($0 - m) }.reduce(0, +)) + m - row[Int(targets[n])]
        }
        XCTAssertEqual(loss(logits), expected, accuracy: 1e-5)
        var grad = logits
        let (_, count) = CrossEntropy.forwardBackward(logits: &grad, targets: targets, rows: N, vocab: V, gradientScale: 1)
        XCTAssertEqual(count, 3)
        XCTAssertTrue(grad[V..<2 * V].allSatisfy { $0 == 0 }, "ignored target has no gradient")
        check.verify(&logits, analytic: grad, indices: sampleIndices(N * V, count: 40), objective: loss)
    }

    func testEmbeddingBackwardAccumulatesRepeatedTokens() {
        let C = 3
        let table: [Float] = (0..<12).map(Float.init)  // V = 4
        let tokens: [Int32] = [2, 0, 2]
        var out = [Float](repeating: 0, count: 9)
        Embedding.forward(out: &out, tokens: tokens, table: table, rows: 3, channels: C)
        XCTAssertEqual(out, [6, 7, 8, 0, 1, 2, 6, 7, 8])
        var dtable = [Float](repeating: 0, count: 12)
        Embedding.backward(dtable: &dtable, dout: [1, 1, 1, 2, 2, 2, 3, 3, 3], tokens: tokens, rows: 3, channels: C)
        XCTAssertEqual(dtable, [2, 2, 2, 0, 0, 0, 4, 4, 4, 0, 0, 0])
    }
}
