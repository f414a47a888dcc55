import AtelierCore
import AtelierModel
import XCTest

final class BloomModelTests: XCTestCase {
    let shape = ModelShape(vocabSize: 29, hiddenSize: 16, layers: 2, heads: 4, sequenceLength: 7)

    func makeBatch(_ acts: Activations) {
        acts.tokens = (0..<acts.rows).map { Int32(($0 * 7 + 3) % 29) }
        acts.targets = (0..<acts.rows).map { Int32(($0 * 5 + 1) % 29) }
        acts.targets[4] = CrossEntropy.ignoreIndex
    }

    /// Records what backward reports, and scatters the lookup's gradient itself as backward would.
    final class Recorder: GradientObserver {
        let table: UnsafeMutablePointer<Float>
        var ranges: [Range<Int>] = []
        var lookups = 0
        var lookupAfter = -1      // how many ranges had been reported when the lookup came
        init(table: UnsafeMutablePointer<Float>) { self.table = table }
        func gradientsReady(_ range: Range<Int>) { ranges.append(range) }
        func progress() {}
        var takesEmbeddingLookup: Bool { true }
        func embeddingLookup(dout: UnsafePointer<Float>, tokens: UnsafePointer<Int32>, rows: Int, channels: Int) {
            lookupAfter = ranges.count
            lookups += 1
            Embedding.backward(dtable: table, dout: dout, tokens: tokens, rows: rows, channels: channels)
        }
    }

    /// With an observer that takes the lookup, backward reports exactly `layout.backwardUnits`, in
    /// order, each once (the tied table first), and the gradients are bit-identical to a plain backward.
    func testBackwardReportsEveryUnitInOrderAndHandsOverTheLookup() {
        let model = BloomModel(shape: shape)
        model.layout.initialize(model.params, seed: 3)
        let acts = Activations(shape: shape, batch: 2)
        makeBatch(acts)
        model.forward(acts)
        model.grads.zero()
        _ = model.loss(acts, gradientScale: 0.1)
        model.backward(acts)
        let plain = Array(model.grads.buffer)
        let recorder = Recorder(table: model.grads.base + model.layout.embedding)
        model.grads.zero()
        _ = model.loss(acts, gradientScale: 0.1)
        model.backward(acts, observer: recorder)
        XCTAssertEqual(recorder.ranges, model.layout.backwardUnits)
        XCTAssertEqual(recorder.lookups, 1)
        XCTAssertEqual(recorder.lookupAfter, model.layout.backwardUnits.count - 1, "the lookup comes after every block, before the embedding LayerNorm is reported")
        XCTAssertEqual(recorder.ranges.first, model.layout.embeddingTableRange)
        XCTAssertEqual(recorder.ranges.map(\.count).reduce(0, +), model.layout.count, "the units cover every parameter once")
        XCTAssertEqual(Array(model.grads.buffer), plain)
    }

    /// The whole model's gradient (mean loss) against finite differences, a few entries of every tensor.
    func testModelGradientMatchesFiniteDifferences() {
        let model = BloomModel(shape: shape)
        model.layout.initialize(model.params, seed: 7)
        // larger weights than BLOOM's init make every path matter
        for i in 0..<model.params.count where model.params[i] != 1 { model.params[i] *= 3 }
        let acts = Activations(shape: shape, batch: 2)
        makeBatch(acts)
        func meanLoss() -> Double {
            model.forward(acts)
            let (loss, count) = model.loss(acts, gradientScale: nil)
            return loss / Double(count)
        }
        model.forward(acts)
        let count = acts.targets.filter { $0 != CrossEntropy.ignoreIndex }.count
        model.grads.zero()
        _ = model.loss(acts, gradientScale: 1 / Float(count))
        model.backward(acts)
        let step: Float = 1e-2
        var checked = 0
        for t in model.layout.tensors {
            for i in sampleIndices(t.count, count: 4) {
                let k = t.offset + i
                let saved = model.params[k]
                model.params[k] = saved + step
                let up = meanLoss()
                model.params[k] = saved - step
                let down = meanLoss()
                model.params[k] = saved
                let numeric = Float((up - down) / Double(2 * step))
                let analytic = model.grads[k]
                XCTAssertEqual(analytic, numeric, accuracy: 2e-3 + 3e-2 * max(abs(numeric), abs(analytic)), "\(t.name)[\(i)]")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 50)
    }

    func testInitialisationFollowsBloom() {
        let big = ModelShape(vocabSize: 512, hiddenSize: 64, layers: 4, heads: 4, sequenceLength: 8)
        let model = BloomModel(shape: big)
        model.layout.initialize(model.params, seed: 1)
        func std(_ name: String) -> Double {
            let t = model.layout.tensor(named: name)!
            let v = (0..<t.count).map { Double(model.params[t.offset + $0]) }
            let m = v.reduce(0, +) / Double(v.count)
            return (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count)).squareRoot()
        }
        let sigma = (1.0 / (3.0 * 64)).squareRoot()
        XCTAssertEqual(big.initStd, sigma, accuracy: 1e-12)
        XCTAssertEqual(std("transformer.word_embeddings.weight"), sigma, accuracy: sigma * 0.03)
        XCTAssertEqual(std("transformer.h.0.self_attention.query_key_value.weight"), sigma, accuracy: sigma * 0.05)
        let outputSigma = sigma / (2.0 * 4).squareRoot()
        XCTAssertEqual(std("transformer.h.2.self_attention.dense.weight"), outputSigma, accuracy: outputSigma * 0.05)
        XCTAssertEqual(std("transformer.h.3.mlp.dense_4h_to_h.weight"), outputSigma, accuracy: outputSigma * 0.05)
        for name in ["transformer.ln_f.weight", "transformer.h.1.input_layernorm.weight", "transformer.word_embeddings_layernorm.weight"] {
            let t = model.layout.tensor(named: name)!
            XCTAssertTrue((0..<t.count).allSatisfy { model.params[t.offset + $0] == 1 }, name)
        }
        let bias = model.layout.tensor(named: "transformer.h.1.mlp.dense_h_to_4h.bias")!
        XCTAssertTrue((0..<bias.count).allSatisfy { model.params[bias.offset + $0] == 0 })
        // same seed, same weights; another seed, other weights
        let again = BloomModel(shape: big)
        again.layout.initialize(again.params, seed: 1)
        XCTAssertEqual(model.layout.hash(model.params), again.layout.hash(again.params))
        again.layout.initialize(again.params, seed: 2)
        XCTAssertNotEqual(model.layout.hash(model.params), again.layout.hash(again.params))
    }

    func testLayoutUsesHuggingFaceNamesAndShapes() {
        let layout = ParameterLayout(shape: shape)
        XCTAssertEqual(layout.tensors.first?.name, "transformer.word_embeddings.weight")
        XCTAssertEqual(layout.tensor(named: "transformer.h.1.self_attention.query_key_value.weight")?.shape, [48, 16])
        XCTAssertEqual(layout.tensor(named: "transformer.h.0.mlp.dense_4h_to_h.weight")?.shape, [16, 64])
        XCTAssertEqual(layout.tensors.last?.name, "transformer.ln_f.bias")
        XCTAssertNil(layout.tensor(named: "lm_head.weight"), "lm_head is tied to the embeddings")
        XCTAssertEqual(layout.count, 29 * 16 + 2 * 16 + 2 * (12 * 16 * 16 + 13 * 16) + 2 * 16)
        XCTAssertFalse(layout.tensor(named: "transformer.h.0.self_attention.dense.bias")!.decays)
        XCTAssertTrue(layout.tensor(named: "transformer.h.0.self_attention.dense.weight")!.decays)
        XCTAssertEqual(shape.matmulParameters, 2 * 12 * 16 * 16 + 29 * 16)
    }

    /// One training micro-step's loss and gradients with the given activations.
    func lossAndGradients(_ model: BloomModel, _ acts: Activations) -> (loss: Double, grads: [Float]) {
        makeBatch(acts)
        model.forward(acts)
        model.grads.zero()
        let (loss, count) = model.loss(acts, gradientScale: 0.05)
        model.backward(acts)
        XCTAssertEqual(count, acts.rows - 1)
        return (loss, Array(model.grads.buffer))
    }

    /// The loss in chunks of 1, 3 and 5 rows (the logits never whole) against all 14 rows at once:
    /// the same loss and gradients to float tolerance (only the table gradient's summation order differs).
    func testChunkedLossEqualsTheWholeLogits() {
        let model = BloomModel(shape: shape)
        model.layout.initialize(model.params, seed: 5)
        for i in 0..<model.params.count where model.params[i] != 1 { model.params[i] *= 3 }
        let whole = Activations(shape: shape, batch: 2, lossChunkRows: 14)
        XCTAssertEqual(whole.lossChunkRows, 14)
        let reference = lossAndGradients(model, whole)
        for rows in [1, 3, 5] {
            let acts = Activations(shape: shape, batch: 2, lossChunkRows: rows)
            XCTAssertEqual(acts.lossChunkRows, rows)
            let chunked = lossAndGradients(model, acts)
            XCTAssertEqual(chunked.loss, reference.loss, accuracy: 1e-5 * abs(reference.loss))
            let scale = reference.grads.map { abs($0) }.max()!
            let worst = zip(chunked.grads, reference.grads).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(worst, 1e-5 * scale, "chunks of \(rows) rows")
            XCTAssertNotEqual(scale, 0)
        }
    }

    /// Recomputing attention, or whole blocks, in backward runs the same ops on the same inputs:
    /// the gradients are bit-identical to keeping everything.
    func testRecomputeGivesTheSameGradientsBitForBit() {
        let model = BloomModel(shape: shape)
        model.layout.initialize(model.params, seed: 11)
        for i in 0..<model.params.count where model.params[i] != 1 { model.params[i] *= 3 }
        let reference = lossAndGradients(model, Activations(shape: shape, batch: 2, recompute: .none, lossChunkRows: 4))
        for policy in [Recompute.attention, .blocks] {
            let result = lossAndGradients(model, Activations(shape: shape, batch: 2, recompute: policy, lossChunkRows: 4))
            XCTAssertEqual(result.loss, reference.loss, "\(policy)")
            XCTAssertEqual(result.grads, reference.grads, "\(policy)")
        }
    }
}
