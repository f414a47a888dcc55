import AtelierCore
import AtelierModel
import XCTest

/// The cached forward pass of generation against the full forward over the same window.
final class GenerationContextTests: XCTestCase {
    // 6 heads: ALiBi's slopes for a head count that is not a power of two; T = 40 > 16 takes the
    // softmax's vector path.
    let shape = ModelShape(vocabSize: 29, hiddenSize: 48, layers: 2, heads: 6, sequenceLength: 40)

    func model(gradients: Bool = false) -> BloomModel {
        let model = BloomModel(shape: shape, gradients: gradients)
        model.layout.initialize(model.params, seed: 11)
        for i in 0..<model.params.count where model.params[i] != 1 { model.params[i] *= 8 }
        return model
    }

    /// Full forward over `window` (padded to T; causal, so the padding changes nothing before it):
    /// the logits [V] of its last position.
    func referenceLogits(_ model: BloomModel, _ acts: Activations, _ window: [Int32]) -> [Float] {
        let T = shape.sequenceLength
        for t in 0..<T { acts.tokens[t] = t < window.count ? window[t] : 0 }
        model.forward(acts)
        return model.logits(acts, rows: (window.count - 1)..<window.count)
    }

    func argmax(_ x: [Float]) -> Int32 { Int32(x.indices.max { x[$0] < x[$1] }!) }

    /// Greedy decoding from a 21-token prompt (three prefill chunks of 8 rows) for 30 tokens, past
    /// the window of 40: at every step the cached path's logits equal the full forward's over the
    /// last 40 tokens to float tolerance, and both choose the same token.
    func testLogitsMatchTheFullForwardOverTheSlidingWindow() throws {
        let model = model()
        let context = try GenerationContext(model: model, chunkRows: 8)
        let acts = Activations(shape: shape, batch: 1)
        var tokens: [Int32] = (0..<21).map { Int32(($0 * 11 + 5) % 29) }
        var logits = context.start(tokens)
        var slid = 0
        for step in 0..<30 {
            let cached = Array(UnsafeBufferPointer(start: logits, count: shape.vocabSize))
            let reference = referenceLogits(model, acts, Array(tokens.suffix(shape.sequenceLength)))
            let scale = reference.map(abs).max()!
            XCTAssertGreaterThan(scale, 1)
            let worst = zip(cached, reference).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(worst, 1e-5 * scale, "step \(step)")
            let next = argmax(reference)
            XCTAssertEqual(argmax(cached), next, "step \(step)")
            XCTAssertEqual(context.window, Array(tokens.suffix(shape.sequenceLength)))
            if context.cache.isFull { slid += 1 }
            tokens.append(next)
            logits = context.append(next)
        }
        XCTAssertEqual(slid, 21 + 30 - 40, "the window slid once per token past 40")
        XCTAssertEqual(context.cache.count, 40)
        XCTAssertGreaterThan(Set(tokens.suffix(30)).count, 3, "greedy output that varies tests more than one token")
    }

    /// After a prefill the cache holds exactly the keys and values the full forward computes.
    func testCacheHoldsEachPositionsKeysAndValues() throws {
        let model = model()
        let context = try GenerationContext(model: model, chunkRows: 8)
        let acts = Activations(shape: shape, batch: 1)
        let prompt: [Int32] = (0..<13).map { Int32(($0 * 7 + 2) % 29) }
        _ = context.start(prompt)
        _ = referenceLogits(model, acts, prompt)
        let H = shape.heads, D = shape.headDim, C3 = 3 * shape.hiddenSize
        XCTAssertEqual(context.cache.count, 13)
        var worst: Float = 0, scale: Float = 0
        for l in 0..<shape.layers {
            for h in 0..<H {
                let k = context.cache.keys(layer: l, head: h), v = context.cache.values(layer: l, head: h)
                for t in 0..<13 {
                    for d in 0..<D {
                        let row = acts.blocks[l].qkv + t * C3 + h * 3 * D
                        worst = max(worst, abs(k[t * D + d] - row[D + d]), abs(v[t * D + d] - row[2 * D + d]))
                        scale = max(scale, abs(row[D + d]), abs(row[2 * D + d]))
                    }
                }
            }
        }
        XCTAssertGreaterThan(scale, 1)
        XCTAssertLessThan(worst, 1e-6 * scale)
    }

    /// A model built for inference only has no gradient buffer and computes what a training model does.
    func testInferenceOnlyModelAllocatesNoGradients() throws {
        let inference = model(gradients: false), training = model(gradients: true)
        XCTAssertEqual(inference.grads.count, 0)
        XCTAssertFalse(inference.hasGradients)
        XCTAssertEqual(training.grads.count, training.layout.count)
        XCTAssertEqual(inference.params.array, training.params.array)
        let acts = Activations(shape: shape, batch: 1)
        let prompt: [Int32] = [1, 2, 3, 4, 5]
        XCTAssertEqual(referenceLogits(inference, acts, prompt), referenceLogits(training, acts, prompt))
        let a = try GenerationContext(model: inference), b = try GenerationContext(model: training)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: a.start(prompt), count: shape.vocabSize)),
                       Array(UnsafeBufferPointer(start: b.start(prompt), count: shape.vocabSize)))
    }
}
