import AtelierJob
import AtelierModel
import Foundation

/// Samples text from a trained model: the context (at most the model's sequence length, the
/// oldest tokens dropped) goes through a full forward pass for every new token, and the next token
/// is drawn from the last position's logits with temperature and top-k, from a seeded generator.
public struct Sampler {
    public let model: BloomModel
    public var temperature: Double
    public var topK: Int
    /// Ids at or past this are never sampled: the tokenizer's vocabulary, where the model's
    /// embedding is padded past it (BLOOM: 250,680 tokens in 250,880 rows).
    public let sampleableVocabulary: Int
    let acts: Activations

    public init(model: BloomModel, temperature: Double, topK: Int, sampleableVocabulary: Int? = nil) {
        self.model = model
        self.sampleableVocabulary = min(sampleableVocabulary ?? model.shape.vocabSize, model.shape.vocabSize)
        self.temperature = temperature
        self.topK = topK
        acts = Activations(shape: model.shape, batch: 1)
    }

    /// Continues `prompt` by up to `maxTokens` tokens, stopping early at `stop`.
    public func continuation(of prompt: [Int32], maxTokens: Int, stop: Int32?, seed: UInt64) -> [Int32] {
        let T = model.shape.sequenceLength, V = model.shape.vocabSize
        var context = prompt
        var out: [Int32] = []
        var rng = SeededRandom(seed: seed)
        for _ in 0..<maxTokens {
            let window = Array(context.suffix(T))
            for t in 0..<T {
                acts.tokens[t] = t < window.count ? window[t] : 0
                acts.targets[t] = CrossEntropy.ignoreIndex
            }
            model.forward(acts)   // causal: the padding after the context does not change its logits
            let logits = acts.logits + (window.count - 1) * V
            let next = Int32(pick(logits, sampleableVocabulary, &rng))
            if next == stop { break }
            out.append(next)
            context.append(next)
        }
        return out
    }

    /// Greedy at temperature 0; otherwise softmax(logits / temperature) over the top k.
    func pick(_ logits: UnsafeMutablePointer<Float>, _ V: Int, _ rng: inout SeededRandom) -> Int {
        var candidates = (0..<V).map { (index: $0, logit: Double(logits[$0])) }
        if temperature <= 0 { return candidates.max { $0.logit < $1.logit }!.index }
        if topK > 0 && topK < V {
            candidates.sort { $0.logit > $1.logit }
            candidates = Array(candidates.prefix(topK))
        }
        let top = candidates.map(\.logit).max()!
        let weights = candidates.map { exp(($0.logit - top) / temperature) }
        var u = rng.nextUnit() * weights.reduce(0, +)
        for (c, w) in zip(candidates, weights) {
            u -= w
            if u <= 0 { return c.index }
        }
        return candidates.last!.index
    }
}
