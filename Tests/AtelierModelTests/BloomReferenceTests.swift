import AtelierCore
import AtelierModel
import Foundation
import XCTest

/// A tiny model's forward pass against Reference/bloom_tiny.json, produced by the independent NumPy
/// implementation in Reference/bloom_reference.py from the same deterministic parameters.
final class BloomReferenceTests: XCTestCase {
    struct Reference: Decodable {
        let vocab, hidden, layers, heads, seq, batch: Int
        let tokens, targets: [Int32]
        let logits: [Double]
        let loss: Double
        let alibi_slopes: [Double]
    }

    /// The reference's parameter formula, tensor by tensor in state-dict order.
    static func fillReferenceParameters(_ model: BloomModel) {
        for (k, t) in model.layout.tensors.enumerated() {
            for i in 0..<t.count {
                let s = sin(0.7 * Double(i) + 1.1 * Double(k))
                let v: Double
                if t.name.hasSuffix("layernorm.weight") || t.name.hasSuffix("ln_f.weight") { v = 1 + 0.1 * s }
                else if t.name.hasSuffix(".bias") { v = 0.05 * s }
                else { v = 0.3 * s }
                model.params[t.offset + i] = Float(v)
            }
        }
    }

    func testForwardMatchesNumPyReference() throws {
        let url = Bundle.module.url(forResource: "bloom_tiny", withExtension: "json", subdirectory: "Reference")!
        let ref = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
        let shape = ModelShape(vocabSize: ref.vocab, hiddenSize: ref.hidden, layers: ref.layers, heads: ref.heads, sequenceLength: ref.seq)
        let model = BloomModel(shape: shape)
        Self.fillReferenceParameters(model)
        XCTAssertEqual(ALiBi.slopes(heads: ref.heads).map(Double.init), ref.alibi_slopes)
        let acts = Activations(shape: shape, batch: ref.batch)
        acts.tokens = ref.tokens
        acts.targets = ref.targets.map { $0 == -100 ? CrossEntropy.ignoreIndex : $0 }
        model.forward(acts)
        let logits = model.logits(acts, rows: 0..<acts.rows)
        var maxError = 0.0
        for i in 0..<ref.logits.count {
            maxError = max(maxError, abs(Double(logits[i]) - ref.logits[i]))
        }
        XCTAssertLessThan(maxError, 2e-4, "largest logit difference from the NumPy reference")
        let (loss, count) = model.loss(acts, gradientScale: nil)
        XCTAssertEqual(count, ref.batch * ref.seq - 1)
        XCTAssertEqual(loss / Double(count), ref.loss, accuracy: 1e-5)
    }
}
