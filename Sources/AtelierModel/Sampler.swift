import AtelierCore
import Foundation

/// Samples text from a model: the prompt's last T tokens (T = the model's sequence length) go
/// through the model once, filling a key/value cache, and each new token then costs one position's
/// forward pass (`GenerationContext`; past T tokens the window slides, oldest dropped). The next
/// token is drawn from the last position's logits with temperature and top-k, from a seeded
/// generator. A sampler runs one generation at a time.
public struct Sampler {
    public let model: BloomModel
    public var temperature: Double
    public var topK: Int
    /// Only ids 0..<sampleableVocabulary are ever drawn: the tokenizer's vocabulary, which can be
    /// smaller than the model's embedding (BLOOM pads 250,680 tokens to 250,880 rows). The logits
    /// of the padding rows are ignored, as if masked to -infinity.
    public let sampleableVocabulary: Int
    let context: GenerationContext

    /// A sampler that may draw any id of the model's vocabulary.
    public init(model: BloomModel, temperature: Double, topK: Int) throws {
        try self.init(model, temperature, topK, model.shape.vocabSize)
    }

    /// A sampler that draws only ids below `sampleableVocabulary` (the tokenizer's vocabulary size).
    public init(model: BloomModel, temperature: Double, topK: Int, sampleableVocabulary: Int) throws {
        guard (1...model.shape.vocabSize).contains(sampleableVocabulary) else {
            throw VocabularyMismatch(sampleable: sampleableVocabulary, model: model.shape.vocabSize)
        }
        try self.init(model, temperature, topK, sampleableVocabulary)
    }

    private init(_ model: BloomModel, _ temperature: Double, _ topK: Int, _ sampleable: Int) throws {
        self.model = model
        self.temperature = temperature
        self.topK = topK
        sampleableVocabulary = sampleable
        context = try GenerationContext(model: model)
    }

    /// A sampleable vocabulary the model cannot produce: empty, or more ids than its embedding has rows.
    public struct VocabularyMismatch: Error, CustomStringConvertible {
        public let sampleable: Int, model: Int
        public var description: String {
            "a vocabulary of \(sampleable) tokens to sample from, but the model's has \(model) (expected 1 to \(model))"
        }
    }

    /// Continues `prompt` (at least one token) by up to `maxTokens` tokens, stopping early at `stop`.
    public func continuation(of prompt: [Int32], maxTokens: Int, stop: Int32?, seed: UInt64) -> [Int32] {
        guard maxTokens > 0 else { return [] }
        var out: [Int32] = []
        var rng = SeededRandom(seed: seed)
        var logits = context.start(prompt)
        while true {
            let next = Int32(pick(logits, &rng))
            if next == stop { break }
            out.append(next)
            if out.count == maxTokens { break }
            logits = context.append(next)
        }
        return out
    }

    /// Greedy at temperature 0 (the first largest logit); otherwise softmax(logits / temperature)
    /// over the top k (all when k is 0 or covers the vocabulary), drawn with one uniform number.
    /// Reads logits [sampleableVocabulary] of the model's [V].
    public func pick(_ logits: UnsafePointer<Float>, _ rng: inout SeededRandom) -> Int {
        let n = sampleableVocabulary
        if temperature <= 0 { return Self.argmax(logits, n) }
        let candidates = topK > 0 && topK < n ? Self.largest(topK, of: logits, n) : Array(0..<n)
        let values = candidates.map { Double(logits[$0]) }
        let top = values.max()!
        let weights = values.map { exp(($0 - top) / temperature) }
        var u = rng.nextUnit() * weights.reduce(0, +)
        for (c, w) in zip(candidates, weights) {
            u -= w
            if u <= 0 { return c }
        }
        return candidates.last!
    }

    /// The index of the first largest of x[0..<n].
    static func argmax(_ x: UnsafePointer<Float>, _ n: Int) -> Int {
        var best = 0
        for i in 1..<n where x[i] > x[best] { best = i }
        return best
    }

    /// The indices of the k largest of x[0..<n], largest first, equal values in index order (a
    /// stable sort's order), kept in a sorted list that most values fail to enter.
    public static func largest(_ k: Int, of x: UnsafePointer<Float>, _ n: Int) -> [Int] {
        var kept: [Int] = []
        kept.reserveCapacity(k + 1)
        for i in 0..<n {
            let v = x[i]
            if kept.count == k && !(v > x[kept[k - 1]]) { continue }
            var lo = 0, hi = kept.count   // insert after every kept value >= v
            while lo < hi {
                let mid = (lo + hi) / 2
                if x[kept[mid]] >= v { lo = mid + 1 } else { hi = mid }
            }
            kept.insert(i, at: lo)
            if kept.count > k { kept.removeLast() }
        }
        return kept
    }
}
