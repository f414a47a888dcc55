import AtelierCore
import AtelierDistributed
import AtelierJob
import AtelierModel
import AtelierTrain
import BLAS
import XCTest

final class OptimizerTests: XCTestCase {
    func testScheduleWarmsUpThenDecaysByCosineInSamples() {
        let s = LearningRateSchedule(
            optimizer: OptimizerSettings(lr: 1e-3, minLR: 1e-4, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, clipGrad: 1),
            schedule: ScheduleSettings(warmupSamples: 100, decaySamples: 1100))
        XCTAssertEqual(s.lr(consumedSamples: 0), 0)
        XCTAssertEqual(s.lr(consumedSamples: 50), 5e-4, accuracy: 1e-15)
        XCTAssertEqual(s.lr(consumedSamples: 100), 1e-3, accuracy: 1e-15)
        XCTAssertEqual(s.lr(consumedSamples: 600), 5.5e-4, accuracy: 1e-12)   // halfway: (max + min) / 2
        XCTAssertEqual(s.lr(consumedSamples: 350), 1e-4 + 0.5 * (cos(Double.pi / 4) + 1) * 9e-4, accuracy: 1e-12)
        XCTAssertEqual(s.lr(consumedSamples: 1100), 1e-4)
        XCTAssertEqual(s.lr(consumedSamples: 5000), 1e-4)
    }

    /// Two AdamW steps against torch.optim.AdamW's update written out in double precision; weight
    /// decay only on the tensors the layout marks (here: the embedding, not its LayerNorm).
    func testAdamWMatchesTorchFormula() throws {
        let shape = ModelShape(vocabSize: 3, hiddenSize: 2, layers: 1, heads: 1, sequenceLength: 2)
        let layout = ParameterLayout(shape: shape)
        let settings = OptimizerSettings(lr: 0.1, minLR: 0, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, clipGrad: 1)
        let adam = try AdamW(layout: layout, settings: settings)
        let params = FloatBuffer(count: layout.count), grads = FloatBuffer(count: layout.count)
        for i in 0..<layout.count { params[i] = 0.5 + Float(i % 5) * 0.1 }
        var p = params.array.map(Double.init)
        var m = [Double](repeating: 0, count: layout.count), v = m
        let decays = (0..<layout.count).map { i in layout.tensors.first { $0.range.contains(i) }!.decays }
        for (step, lr, scale) in [(1, 0.1, 1.0), (2, 0.05, 0.5)] {
            for i in 0..<layout.count { grads[i] = Float(i % 7) * 0.3 - 0.9 }
            adam.update(params: params, grads: grads, lr: lr, gradScale: Float(scale))
            for i in 0..<layout.count {
                let g = Double(grads[i]) * scale
                if decays[i] { p[i] *= 1 - lr * 0.1 }
                m[i] = 0.9 * m[i] + 0.1 * g
                v[i] = 0.95 * v[i] + 0.05 * g * g
                let mhat = m[i] / (1 - pow(0.9, Double(step))), vhat = v[i] / (1 - pow(0.95, Double(step)))
                p[i] -= lr * mhat / (vhat.squareRoot() + 1e-8)
            }
        }
        for i in 0..<layout.count { XCTAssertEqual(Double(params[i]), p[i], accuracy: 1e-5, "param \(i)") }
        XCTAssertEqual(adam.step, 2)
        let embedding = layout.tensor(named: "transformer.word_embeddings.weight")!
        let norm = layout.tensor(named: "transformer.word_embeddings_layernorm.weight")!
        XCTAssertTrue(embedding.decays)
        XCTAssertFalse(norm.decays)
    }

    /// ZeRO stage 1: each rank's AdamW over its shard (shards cut tensors, so weight decay switches
    /// inside a shard) gives the same bits as one AdamW over everything, on 1 or 2 threads.
    func testShardedAndThreadedUpdatesEqualTheWholeUpdateBitForBit() throws {
        let shape = ModelShape(vocabSize: 300, hiddenSize: 64, layers: 2, heads: 4, sequenceLength: 8)
        let layout = ParameterLayout(shape: shape)
        let settings = OptimizerSettings(lr: 0.01, minLR: 0, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, clipGrad: 1)
        let initial = FloatBuffer(count: layout.count)
        layout.initialize(initial, seed: 3)
        func gradients(_ step: Int) -> FloatBuffer {
            let g = FloatBuffer(count: layout.count)
            for i in 0..<layout.count { g[i] = Float((i * 7 + step * 13) % 29) * 0.01 - 0.14 }
            return g
        }
        func run(shards: ParameterShards?, threads: Int) throws -> [Float] {
            let saved = BLASRuntime.threads
            BLASRuntime.setThreads(threads)
            defer { BLASRuntime.setThreads(saved) }
            let params = FloatBuffer(count: layout.count)
            params.base.update(from: initial.base, count: layout.count)
            let ranks = shards.map { s in (0..<s.ranks).map { s.range(of: $0) } } ?? [0..<layout.count]
            let optimizers = try ranks.map { try AdamW(layout: layout, settings: settings, shard: $0) }
            for step in 1...3 {
                let g = gradients(step)
                // each "rank" updates its shard of the same buffer (what the all-gather then shares)
                for adam in optimizers { adam.update(params: params, grads: g, lr: 0.01 / Double(step), gradScale: 0.5) }
            }
            XCTAssertEqual(optimizers.map(\.expAvg.count).reduce(0, +), layout.count)
            return params.array
        }
        let whole = try run(shards: nil, threads: 1)
        XCTAssertNotEqual(whole, initial.array)
        let cuts = ParameterShards(parameters: layout.count, ranks: 3)
        XCTAssertTrue(layout.tensors.contains { $0.offset < cuts.range(of: 1).lowerBound && $0.offset + $0.count > cuts.range(of: 1).lowerBound },
                      "a shard boundary falls inside a tensor")
        for (shards, threads) in [(nil, 2), (cuts, 1), (cuts, 2), (ParameterShards(parameters: layout.count, ranks: 4), 2)] as [(ParameterShards?, Int)] {
            let got = try run(shards: shards, threads: threads)
            XCTAssertTrue(got.elementsEqual(whole) { $0.bitPattern == $1.bitPattern }, "\(shards?.ranks ?? 1) shards, \(threads) threads")
        }
    }
}
