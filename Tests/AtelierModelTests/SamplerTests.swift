import AtelierCore
import AtelierModel

import Foundation
import XCTest

final class SamplerTests: XCTestCase {
    static let shape = ModelShape(vocabSize: 61, hiddenSize: 32, layers: 2, heads: 4, sequenceLength: 8)

    /// A small random model whose weights are large enough that greedy decoding does not repeat one token.
    static func model() -> BloomModel {
        let model = BloomModel(shape: shape, gradients: false)
        model.layout.initialize(model.params, seed: 6)
        for i in 0..<model.params.count where model.params[i] != 1 { model.params[i] *= 8 }
        return model
    }

    static let prompt: [Int32] = [3, 14, 15, 9, 2]

    /// The tokens the sampler gave before the key/value cache (a full forward over the window for
    /// every token, a sort of all candidates), recorded from that code: same seeds, same tokens.
    /// 5 + 14 tokens exceed the window of 8, so the window slides in every case.
    func testSameTokensAsTheFullForwardSampler() throws {
        let model = Self.model()
        let recorded: [(temperature: Double, topK: Int, seed: UInt64, tokens: [Int32])] = [
            (0.0, 40, 1, [53, 27, 21, 27, 21, 21, 55, 55, 37, 26, 10, 50, 54, 11]),
            (0.8, 5, 7, [53, 27, 55, 54, 7, 1, 46, 21, 21, 45, 53, 41, 21, 54]),
            (1.0, 0, 11, [53, 9, 21, 27, 21, 21, 55, 53, 21, 55, 17, 45, 31, 17]),
            (1.3, 61, 13, [53, 37, 51, 37, 40, 49, 23, 54, 54, 53, 24, 44, 23, 24]),
            (0.7, 1, 3, [53, 27, 21, 27, 21, 21, 55, 55, 37, 26, 10, 50, 54, 11]),
            (2.0, 3, 5, [53, 37, 37, 27, 21, 27, 21, 55, 31, 53, 24, 55, 37, 49]),
        ]
        for r in recorded {
            let sampler = try Sampler(model: model, temperature: r.temperature, topK: r.topK)
            XCTAssertEqual(sampler.continuation(of: Self.prompt, maxTokens: 14, stop: nil, seed: r.seed), r.tokens,
                           "temperature \(r.temperature), top-k \(r.topK), seed \(r.seed)")
        }
        let greedy = try Sampler(model: model, temperature: 0, topK: 40)
        XCTAssertEqual(greedy.continuation(of: Self.prompt, maxTokens: 14, stop: 21, seed: 1), [53, 27])
        XCTAssertEqual(try Sampler(model: model, temperature: 0.9, topK: 10)
            .continuation(of: Array(1...11), maxTokens: 6, stop: nil, seed: 2), [37, 37, 37, 37, 37, 37],
                       "a prompt longer than the window keeps its last 8 tokens")
        XCTAssertEqual(greedy.continuation(of: Self.prompt, maxTokens: 3, stop: nil, seed: 1), [53, 27, 21],
                       "a sampler can run a second generation")
    }

    /// The sampler before the cache chose a token this way: every candidate, sorted when top-k applies.
    static func referencePick(_ logits: [Float], temperature: Double, topK: Int, _ rng: inout SeededRandom) -> Int {
        let V = logits.count
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

    /// Argmax and the partial top-k selection choose what the sort of every candidate chose, with
    /// the same generator draws, also among many equal logits (a handful of distinct values).
    func testPickMatchesTheSortOfEveryCandidate() throws {
        let model = Self.model()
        var data = SeededRandom(seed: 42)
        var checked = 0
        for trial in 0..<300 {
            let distinct = trial % 3 == 0 ? 4 : 1000
            let logits = (0..<61).map { _ in Float(Int(data.nextUnit() * Double(distinct))) * 0.25 - 3 }
            for (temperature, topK) in [(0.0, 40), (0.8, 5), (1.0, 0), (1.5, 61), (0.5, 1), (2.0, 60), (1.0, 17)] {
                let sampler = try Sampler(model: model, temperature: temperature, topK: topK)
                var a = SeededRandom(seed: UInt64(trial)), b = a
                let chosen = logits.withUnsafeBufferPointer { sampler.pick($0.baseAddress!, &a) }
                XCTAssertEqual(chosen, Self.referencePick(logits, temperature: temperature, topK: topK, &b),
                               "trial \(trial), temperature \(temperature), top-k \(topK)")
                XCTAssertEqual(a.next(), b.next(), "the same number of draws")
                checked += 1
            }
        }
        XCTAssertEqual(checked, 2100)
    }

    /// Ids at or above the sampleable vocabulary (padding rows of the embedding) are never drawn,
    /// and greedy picks the largest logit below it.
    func testSampleableVocabularyMasksThePaddingRows() throws {
        let model = Self.model()
        var unlimited = Set<Int32>(), limited = Set<Int32>()
        for seed in UInt64(1)...8 {
            unlimited.formUnion(try Sampler(model: model, temperature: 2, topK: 0)
                .continuation(of: Self.prompt, maxTokens: 10, stop: nil, seed: seed))
            limited.formUnion(try Sampler(model: model, temperature: 2, topK: 0, sampleableVocabulary: 20)
                .continuation(of: Self.prompt, maxTokens: 10, stop: nil, seed: seed))
        }
        XCTAssertTrue(unlimited.contains { $0 >= 20 }, "without the limit the model draws ids >= 20")
        XCTAssertTrue(limited.allSatisfy { $0 < 20 }, "\(limited.sorted())")
        XCTAssertGreaterThan(limited.count, 5)

        let logits: [Float] = [0, 1, 5, 2, 9, 3]
        let sampler = try Sampler(model: model, temperature: 0, topK: 0, sampleableVocabulary: 4)
        var rng = SeededRandom(seed: 1)
        XCTAssertEqual(logits.withUnsafeBufferPointer { sampler.pick($0.baseAddress!, &rng) }, 2)
        let topTwo = try Sampler(model: model, temperature: 100, topK: 2, sampleableVocabulary: 4)
        for _ in 0..<50 {
            XCTAssertTrue([2, 3].contains(logits.withUnsafeBufferPointer { topTwo.pick($0.baseAddress!, &rng) }))
        }
    }

    func testSampleableVocabularyOutsideTheModelIsAnError() throws {
        let model = Self.model()
        XCTAssertThrowsError(try Sampler(model: model, temperature: 0, topK: 0, sampleableVocabulary: 62)) { error in
            XCTAssertEqual("\(error)", "a vocabulary of 62 tokens to sample from, but the model's has 61 (expected 1 to 61)")
        }
        XCTAssertThrowsError(try Sampler(model: model, temperature: 0, topK: 0, sampleableVocabulary: 0))
        XCTAssertNoThrow(try Sampler(model: model, temperature: 0, topK: 0, sampleableVocabulary: 61))
    }
}
