import AtelierJob

/// Everything forward saves for backward, plus backward's scratch, for micro-batches of B
/// sequences of T tokens (N = B*T rows), in one allocation with named views.
public final class Activations: @unchecked Sendable {
    public let batch: Int, sequence: Int, rows: Int
    public let storage: FloatBuffer

    /// Per-block saved tensors.
    public struct Block {
        public let ln1, ln1Mean, ln1Rstd: UnsafeMutablePointer<Float>   // [N, C], [N], [N]
        public let qkv: UnsafeMutablePointer<Float>                      // [N, 3C]
        public let probs: UnsafeMutablePointer<Float>                    // [B, H, T, T]
        public let att: UnsafeMutablePointer<Float>                      // [N, C] heads merged
        public let residualMid: UnsafeMutablePointer<Float>              // [N, C] after attention
        public let ln2, ln2Mean, ln2Rstd: UnsafeMutablePointer<Float>   // [N, C], [N], [N]
        public let fc: UnsafeMutablePointer<Float>                       // [N, 4C] before GeLU
        public let gelu: UnsafeMutablePointer<Float>                     // [N, 4C]
    }

    public let embedded: UnsafeMutablePointer<Float>                 // [N, C] before the embedding LayerNorm
    public let embeddedMean, embeddedRstd: UnsafeMutablePointer<Float>
    /// residual[l] is block l's input [N, C]; residual[L] is the last block's output.
    public let residual: [UnsafeMutablePointer<Float>]
    public let blocks: [Block]
    public let final: UnsafeMutablePointer<Float>                    // [N, C] after ln_f
    public let finalMean, finalRstd: UnsafeMutablePointer<Float>
    public let logits: UnsafeMutablePointer<Float>                   // [N, V]; dlogits after the loss
    // backward scratch
    public let dResidual, dHidden: UnsafeMutablePointer<Float>       // [N, C]
    public let dQKV: UnsafeMutablePointer<Float>                     // [N, 3C]
    public let dFC: UnsafeMutablePointer<Float>                      // [N, 4C]
    public let dScores: UnsafeMutablePointer<Float>                  // [T, T]

    public var tokens: [Int32]    // [N] inputs
    public var targets: [Int32]   // [N] next tokens (CrossEntropy.ignoreIndex for padding)

    public init(shape: ModelShape, batch B: Int) {
        let T = shape.sequenceLength, C = shape.hiddenSize, V = shape.vocabSize, H = shape.heads, L = shape.layers
        let N = B * T
        batch = B; sequence = T; rows = N
        var sizes: [Int] = []
        func reserve(_ n: Int) -> Int { sizes.append(n); return sizes.count - 1 }
        let iEmb = reserve(N * C), iEmbM = reserve(N), iEmbR = reserve(N)
        let iRes = (0...L).map { _ in reserve(N * C) }
        let iBlocks = (0..<L).map { _ in
            (reserve(N * C), reserve(N), reserve(N), reserve(N * 3 * C), reserve(B * H * T * T), reserve(N * C),
             reserve(N * C), reserve(N * C), reserve(N), reserve(N), reserve(N * 4 * C), reserve(N * 4 * C))
        }
        let iFin = reserve(N * C), iFinM = reserve(N), iFinR = reserve(N), iLogits = reserve(N * V)
        let iDRes = reserve(N * C), iDH = reserve(N * C), iDQKV = reserve(N * 3 * C), iDFC = reserve(N * 4 * C), iDS = reserve(T * T)
        // Each view starts on a 64-byte boundary.
        var offsets: [Int] = []
        var total = 0
        for s in sizes { offsets.append(total); total += (s + 15) / 16 * 16 }
        storage = FloatBuffer(count: total)
        let base = storage.base
        func p(_ i: Int) -> UnsafeMutablePointer<Float> { base + offsets[i] }
        embedded = p(iEmb); embeddedMean = p(iEmbM); embeddedRstd = p(iEmbR)
        residual = iRes.map(p)
        blocks = iBlocks.map { b in
            Block(ln1: p(b.0), ln1Mean: p(b.1), ln1Rstd: p(b.2), qkv: p(b.3), probs: p(b.4), att: p(b.5),
                  residualMid: p(b.6), ln2: p(b.7), ln2Mean: p(b.8), ln2Rstd: p(b.9), fc: p(b.10), gelu: p(b.11))
        }
        final = p(iFin); finalMean = p(iFinM); finalRstd = p(iFinR); logits = p(iLogits)
        dResidual = p(iDRes); dHidden = p(iDH); dQKV = p(iDQKV); dFC = p(iDFC); dScores = p(iDS)
        tokens = [Int32](repeating: 0, count: N)
        targets = [Int32](repeating: 0, count: N)
    }

    /// Floats this layout needs for a shape and micro-batch (what `init` allocates, before padding).
    public static func floatCount(shape: ModelShape, batch B: Int) -> Int {
        let T = shape.sequenceLength, C = shape.hiddenSize, V = shape.vocabSize, H = shape.heads, L = shape.layers
        let N = B * T
        let perBlock = N * C * 5 + N * 4 + N * 3 * C + B * H * T * T + N * 8 * C
        return N * C + 2 * N + (L + 1) * N * C + L * perBlock + N * C + 2 * N + N * V
            + 2 * N * C + N * 3 * C + N * 4 * C + T * T
    }
}
