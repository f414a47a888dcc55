import AtelierModel
import BLAS
import XCTest

/// The element-wise kernels split their work over `Parallel`'s threads (BLAS's count) in parts that
/// depend only on the sizes, and add partial sums in a fixed order: each gives the same bits on 1, 2
/// and 3 threads. Sizes are large enough for several parts, with tails not a multiple of 16.
final class ThreadCountTests: XCTestCase {
    let threadCounts = [1, 2, 3]

    /// body's result on each thread count, BLAS's thread count restored afterwards.
    func onEachThreadCount<R>(_ body: () -> R) -> [R] {
        let saved = BLASRuntime.threads
        defer { BLASRuntime.setThreads(saved) }
        return threadCounts.map { n in
            BLASRuntime.setThreads(n)
            return body()
        }
    }

    /// Every result bit-identical to the first (1 thread); `name` says which output differs.
    func assertSameBits(_ results: [[Float]], _ name: String, file: StaticString = #filePath, line: UInt = #line) {
        for (k, r) in results.enumerated().dropFirst() {
            XCTAssertEqual(r.count, results[0].count, name, file: file, line: line)
            let differing = zip(r, results[0]).filter { $0.bitPattern != $1.bitPattern }.count
            XCTAssertEqual(differing, 0, "\(name): \(differing) values differ on \(threadCounts[k]) threads", file: file, line: line)
        }
    }

    func testLayerNormForwardAndBackward() {
        let C = 37, N = 3 * Parallel.rowGrain(floatsPerRow: C) + 5   // 3 parts of rows on 3 threads
        XCTAssertEqual(Parallel.parts(N, grain: Parallel.rowGrain(floatsPerRow: C), threads: 3).count, 3)
        let x = pseudoRandom(N * C, seed: 21, scale: 2)
        let w = pseudoRandom(C, seed: 22).map { 1 + 0.5 * $0 }, b = pseudoRandom(C, seed: 23)
        let dout = pseudoRandom(N * C, seed: 24)
        let results = onEachThreadCount { () -> [[Float]] in
            var out = [Float](repeating: 0, count: N * C), mean = [Float](repeating: 0, count: N), rstd = mean
            LayerNorm.forward(out: &out, mean: &mean, rstd: &rstd, x: x, weight: w, bias: b, rows: N, channels: C, eps: 1e-5)
            // accumulating backward: start from non-zero gradients
            var dx = pseudoRandom(N * C, seed: 25), dw = pseudoRandom(C, seed: 26), db = pseudoRandom(C, seed: 27)
            LayerNorm.backward(dx: &dx, dweight: &dw, dbias: &db, dout: dout, x: x, weight: w, mean: mean, rstd: rstd,
                               rows: N, channels: C)
            return [out, mean, rstd, dx, dw, db]
        }
        for (k, name) in ["out", "mean", "rstd", "dx", "dweight", "dbias"].enumerated() {
            assertSameBits(results.map { $0[k] }, name)
        }
        // and against the definition in double, for the last row (whose tail goes through the vector formula)
        let row = x[(N - 1) * C..<N * C].map(Double.init)
        let m = row.reduce(0, +) / Double(C)
        let s = 1 / (row.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(C) + 1e-5).squareRoot()
        for i in 0..<C {
            XCTAssertEqual(Double(results[0][0][(N - 1) * C + i]), (row[i] - m) * s * Double(w[i]) + Double(b[i]), accuracy: 1e-5)
        }
        // dbias = initial + column sums of dout
        let db0 = pseudoRandom(C, seed: 27)
        for i in [0, 15, 16, 36] {
            let sum = (0..<N).reduce(Double(db0[i])) { $0 + Double(dout[$1 * C + i]) }
            XCTAssertEqual(Double(results[0][5][i]), sum, accuracy: 1e-3)
        }
    }

    func testGeLUForwardAndBackward() {
        let n = 3 * Parallel.grainFloats + 37
        let x = pseudoRandom(n, seed: 31, scale: 5)
        let r = pseudoRandom(n, seed: 32)
        let results = onEachThreadCount { () -> [[Float]] in
            var out = [Float](repeating: 0, count: n), dx = r
            GeLU.forward(out: &out, x: x, count: n)
            GeLU.backward(dinout: &dx, x: x, count: n)
            return [out, dx]
        }
        assertSameBits(results.map { $0[0] }, "gelu")
        assertSameBits(results.map { $0[1] }, "dgelu")
        for i in [0, n - 20, n - 1] {   // the last ones are in the tail
            let d = Double(x[i])
            XCTAssertEqual(Double(results[0][0][i]), 0.5 * d * (1 + tanh(0.79788456 * d * (1 + 0.044715 * d * d))), accuracy: 2e-6)
        }
    }

    func testCrossEntropyLossAndGradient() {
        let V = 4101, N = 3 * Parallel.rowGrain(floatsPerRow: V) + 2
        var logits = pseudoRandom(N * V, seed: 41, scale: 3)
        logits[V - 1] = 9   // row 0's max in the vector tail
        var targets = (0..<N).map { Int32($0 * 37 % V) }
        targets[3] = CrossEntropy.ignoreIndex
        let results = onEachThreadCount { () -> (Double, Int, [Float]) in
            var grad = logits
            let (loss, count) = CrossEntropy.forwardBackward(logits: &grad, targets: targets, rows: N, vocab: V, gradientScale: 0.5)
            return (loss, count, grad)
        }
        for r in results {
            XCTAssertEqual(r.0.bitPattern, results[0].0.bitPattern, "loss")
            XCTAssertEqual(r.1, N - 1)
        }
        assertSameBits(results.map(\.2), "dlogits")
        // row 0 against log-sum-exp in double
        let row = logits[0..<V].map(Double.init)
        let m = row.max()!
        let lse = log(row.map { exp($0 - m) }.reduce(0, +)) + m
        var single = Array(logits[0..<V])
        let (loss0, _) = CrossEntropy.forwardBackward(logits: &single, targets: [targets[0]], rows: 1, vocab: V, gradientScale: nil)
        XCTAssertEqual(loss0, lse - row[Int(targets[0])], accuracy: 1e-5)
        XCTAssertEqual(Double(results[0].2[V - 1]), 0.5 * exp(9 - lse), accuracy: 1e-6)
    }

    func testEmbeddingForwardAndBackward() {
        let C = 53, V = 11, N = 3 * Parallel.rowGrain(floatsPerRow: C) + 1   // C = 53: 3 parts of columns in backward
        let table = pseudoRandom(V * C, seed: 51)
        let tokens = (0..<N).map { Int32($0 * $0 % V) }   // repeated tokens
        let dout = pseudoRandom(N * C, seed: 52)
        let results = onEachThreadCount { () -> [[Float]] in
            var out = [Float](repeating: 0, count: N * C), dtable = [Float](repeating: 1, count: V * C)
            Embedding.forward(out: &out, tokens: tokens, table: table, rows: N, channels: C)
            Embedding.backward(dtable: &dtable, dout: dout, tokens: tokens, rows: N, channels: C)
            return [out, dtable]
        }
        assertSameBits(results.map { $0[0] }, "embedded")
        assertSameBits(results.map { $0[1] }, "dtable")
        XCTAssertEqual(Array(results[0][0][(N - 1) * C..<N * C]), Array(table[Int(tokens[N - 1]) * C..<Int(tokens[N - 1] + 1) * C]))
        for (v, c) in [(0, 0), (4, 52), (10, 17)] {
            let sum = (0..<N).filter { tokens[$0] == Int32(v) }.reduce(1.0) { $0 + Double(dout[$1 * C + c]) }
            XCTAssertEqual(Double(results[0][1][v * C + c]), sum, accuracy: 1e-3)
        }
    }

    /// Flash attention's items (batch row, head) spread over the threads: out, lse and dqkv are the same bits.
    func testAttention() {
        let B = 2, T = 101, H = 3, D = 8, C = H * D
        let qkv = pseudoRandom(B * T * 3 * C, seed: 61, scale: 2), dout = pseudoRandom(B * T * C, seed: 62)
        let slopes = ALiBi.slopes(heads: H)
        let results = onEachThreadCount { () -> [[Float]] in
            var out = [Float](repeating: 0, count: B * T * C), lse = [Float](repeating: 0, count: B * H * T)
            var dqkv = [Float](repeating: 0, count: B * T * 3 * C)
            Attention.forward(out: &out, lse: &lse, qkv: qkv, slopes: slopes, batch: B, sequence: T, heads: H, headDim: D, tile: 16)
            Attention.backward(dqkv: &dqkv, dout: dout, out: out, lse: lse, qkv: qkv, slopes: slopes,
                               batch: B, sequence: T, heads: H, headDim: D, tile: 16)
            return [out, lse, dqkv]
        }
        assertSameBits(results.map { $0[0] }, "out")
        assertSameBits(results.map { $0[1] }, "lse")
        assertSameBits(results.map { $0[2] }, "dqkv")
        XCTAssertTrue(results[0][1].allSatisfy { $0.isFinite })
    }

    func testLinearBias() {
        let N = 3 * Parallel.rowGrain(floatsPerRow: 37) + 4, K = 5, M = 37
        let x = pseudoRandom(N * K, seed: 71), w = pseudoRandom(M * K, seed: 72), b = pseudoRandom(M, seed: 73)
        let dy = pseudoRandom(N * M, seed: 74)
        let results = onEachThreadCount { () -> [[Float]] in
            var y = [Float](repeating: 0, count: N * M)
            Linear.forward(y: &y, x: x, weight: w, bias: b, rows: N, inFeatures: K, outFeatures: M)
            var dw = [Float](repeating: 0, count: M * K), db = [Float](repeating: 0, count: M)
            Linear.backward(dx: nil, dweight: &dw, dbias: &db, dy: dy, x: x, weight: w, rows: N, inFeatures: K, outFeatures: M)
            return [y, db]
        }
        assertSameBits(results.map { $0[1] }, "dbias")
        for r in results { XCTAssertEqual(r[0], results[0][0]) }
        for m in [0, 36] {
            XCTAssertEqual(Double(results[0][1][m]), (0..<N).reduce(0.0) { $0 + Double(dy[$1 * M + m]) }, accuracy: 1e-3)
        }
    }

    func testSumOfSquares() {
        let n = 100 * 4096 + 37
        let x = pseudoRandom(n, seed: 81)
        let results = onEachThreadCount { x.withUnsafeBufferPointer { sumOfSquares($0.baseAddress!, n) } }
        for r in results { XCTAssertEqual(r.bitPattern, results[0].bitPattern) }
        XCTAssertEqual(results[0], x.reduce(0.0) { $0 + Double($1) * Double($1) }, accuracy: 1e-6 * results[0])
    }

    func testCopyAndFill() {
        let n = 3 * Parallel.grainFloats + 37
        let src = pseudoRandom(n, seed: 91)
        let results = onEachThreadCount { () -> [[Float]] in
            var copied = [Float](repeating: 0, count: n), filled = src
            Parallel.copy(&copied, from: src, count: n)
            Parallel.fill(&filled, with: 0.25, count: n - 1)
            return [copied, filled]
        }
        for r in results {
            XCTAssertEqual(r[0], src)
            XCTAssertEqual(Array(r[1].prefix(n - 1)), [Float](repeating: 0.25, count: n - 1))
            XCTAssertEqual(r[1][n - 1], src[n - 1], "fill stops at its count")
        }
    }

    func testVectorAddCoversTheTail() {
        for n in [1, 15, 16, 17, 37] {
            var y = (0..<n).map(Float.init)
            vadd(&y, [Float](repeating: 0.5, count: n), n)
            XCTAssertEqual(y, (0..<n).map { Float($0) + 0.5 })
        }
    }
}
