/// The shape of a BLOOM-style model, as in Hugging Face's `BloomConfig`.
public struct ModelShape: Equatable, Sendable {
    public var vocabSize: Int       // V
    public var hiddenSize: Int      // C (h)
    public var layers: Int          // L
    public var heads: Int           // H
    public var sequenceLength: Int  // T (context length used in training)
    public var initStd: Double      // sigma of normal(0, sigma) weights
    public var layerNormEpsilon: Float = 1e-5

    public init(vocabSize: Int, hiddenSize: Int, layers: Int, heads: Int, sequenceLength: Int, initStd: Double? = nil) {
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.layers = layers
        self.heads = heads
        self.sequenceLength = sequenceLength
        self.initStd = initStd ?? (1.0 / (3.0 * Double(hiddenSize))).squareRoot()
    }

    public var headDim: Int { hiddenSize / heads }

    /// Parameters that take part in matmuls, counting the tied lm_head once more (PaLM's N).
    public var matmulParameters: Int {
        layers * 12 * hiddenSize * hiddenSize + vocabSize * hiddenSize
    }

    /// Model FLOPs per trained token, forward and backward: 6N + 12*L*h*T (PaLM, appendix B).
    public var flopsPerToken: Double {
        6 * Double(matmulParameters) + 12 * Double(layers) * Double(hiddenSize) * Double(sequenceLength)
    }
}
