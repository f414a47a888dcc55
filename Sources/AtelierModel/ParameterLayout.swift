import AtelierCore

/// One named tensor inside the flat parameter buffer, under its Hugging Face state-dict name.
public struct ParameterTensor: Sendable {
    public let name: String        // e.g. "transformer.h.3.self_attention.query_key_value.weight"
    public let shape: [Int]        // Hugging Face shape: Linear weights are [out, in]
    public let offset: Int         // in floats, into the flat buffer
    public var count: Int { shape.reduce(1, *) }
    public var range: Range<Int> { offset..<(offset + count) }
    /// AdamW weight decay applies to matmul weights and embeddings, not to biases or LayerNorm.
    public let decays: Bool
}

/// Offsets of one transformer block's tensors in the flat buffer (same for params and grads).
public struct BlockOffsets: Sendable {
    public let ln1Weight, ln1Bias: Int          // [C]
    public let qkvWeight, qkvBias: Int          // [3C, C], [3C]: rows viewed as [H, 3, D]
    public let denseWeight, denseBias: Int      // [C, C], [C]
    public let ln2Weight, ln2Bias: Int          // [C]
    public let fc1Weight, fc1Bias: Int          // [4C, C], [4C]  (mlp.dense_h_to_4h)
    public let fc2Weight, fc2Bias: Int          // [C, 4C], [C]   (mlp.dense_4h_to_h)
    public let range: Range<Int>

    // Each operation's weight and bias: what backward reports as final when it is done with it.
    public var ln1Range: Range<Int> { range.lowerBound..<qkvWeight }
    public var qkvRange: Range<Int> { qkvWeight..<denseWeight }
    public var denseRange: Range<Int> { denseWeight..<ln2Weight }
    public var ln2Range: Range<Int> { ln2Weight..<fc1Weight }
    public var fc1Range: Range<Int> { fc1Weight..<fc2Weight }
    public var fc2Range: Range<Int> { fc2Weight..<range.upperBound }

    /// The operations in the order backward finishes them (descending offsets).
    public var backwardUnits: [Range<Int>] { [fc2Range, fc1Range, ln2Range, denseRange, qkvRange, ln1Range] }
}

/// Where every parameter lives in the one flat buffer, in Hugging Face state-dict order:
/// word_embeddings, word_embeddings_layernorm, h.0 ... h.(L-1), ln_f. lm_head.weight is tied to
/// transformer.word_embeddings.weight and has no storage of its own.
public struct ParameterLayout: Sendable {
    public let shape: ModelShape
    public let tensors: [ParameterTensor]
    public let count: Int
    public let embedding: Int                   // [V, C]
    public let embeddingNormWeight, embeddingNormBias: Int
    public let blocks: [BlockOffsets]
    public let finalNormWeight, finalNormBias: Int
    /// The embedding and its LayerNorm: their gradients are final only at the end of backward.
    public let embeddingRange: Range<Int>
    public let embeddingTableRange: Range<Int>  // [V, C], shared with lm_head
    public let embeddingNormRange: Range<Int>
    public let finalNormRange: Range<Int>

    /// The gradient ranges in the order backward finishes them when its observer takes the
    /// embedding lookup's gradient itself (`GradientObserver.takesEmbeddingLookup`): the tied
    /// table first (its lm_head part is computed first), ln_f, each block's operations from
    /// the last block down, then the embedding LayerNorm.
    public var backwardUnits: [Range<Int>] {
        [embeddingTableRange, finalNormRange] + blocks.reversed().flatMap(\.backwardUnits) + [embeddingNormRange]
    }

    public init(shape: ModelShape) {
        let C = shape.hiddenSize, V = shape.vocabSize
        var tensors: [ParameterTensor] = []
        var offset = 0
        func add(_ name: String, _ dims: [Int], decays: Bool) -> Int {
            let t = ParameterTensor(name: name, shape: dims, offset: offset, decays: decays)
            tensors.append(t)
            offset += t.count
            return t.offset
        }
        embedding = add("transformer.word_embeddings.weight", [V, C], decays: true)
        embeddingNormWeight = add("transformer.word_embeddings_layernorm.weight", [C], decays: false)
        embeddingNormBias = add("transformer.word_embeddings_layernorm.bias", [C], decays: false)
        embeddingRange = 0..<offset
        embeddingTableRange = embedding..<embeddingNormWeight
        embeddingNormRange = embeddingNormWeight..<offset
        var blocks: [BlockOffsets] = []
        for l in 0..<shape.layers {
            let p = "transformer.h.\(l)."
            let start = offset
            let ln1w = add(p + "input_layernorm.weight", [C], decays: false)
            let ln1b = add(p + "input_layernorm.bias", [C], decays: false)
            let qkvw = add(p + "self_attention.query_key_value.weight", [3 * C, C], decays: true)
            let qkvb = add(p + "self_attention.query_key_value.bias", [3 * C], decays: false)
            let dw = add(p + "self_attention.dense.weight", [C, C], decays: true)
            let db = add(p + "self_attention.dense.bias", [C], decays: false)
            let ln2w = add(p + "post_attention_layernorm.weight", [C], decays: false)
            let ln2b = add(p + "post_attention_layernorm.bias", [C], decays: false)
            let f1w = add(p + "mlp.dense_h_to_4h.weight", [4 * C, C], decays: true)
            let f1b = add(p + "mlp.dense_h_to_4h.bias", [4 * C], decays: false)
            let f2w = add(p + "mlp.dense_4h_to_h.weight", [C, 4 * C], decays: true)
            let f2b = add(p + "mlp.dense_4h_to_h.bias", [C], decays: false)
            blocks.append(BlockOffsets(ln1Weight: ln1w, ln1Bias: ln1b, qkvWeight: qkvw, qkvBias: qkvb,
                                       denseWeight: dw, denseBias: db, ln2Weight: ln2w, ln2Bias: ln2b,
                                       fc1Weight: f1w, fc1Bias: f1b, fc2Weight: f2w, fc2Bias: f2b,
                                       range: start..<offset))
        }
        self.blocks = blocks
        let finalStart = offset
        finalNormWeight = add("transformer.ln_f.weight", [C], decays: false)
        finalNormBias = add("transformer.ln_f.bias", [C], decays: false)
        finalNormRange = finalStart..<offset
        self.tensors = tensors
        self.count = offset
        self.shape = shape
    }

    public func tensor(named name: String) -> ParameterTensor? {
        tensors.first { $0.name == name }
    }
}
