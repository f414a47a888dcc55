import AtelierJob
import AtelierModel
import AtelierTrain
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
}
