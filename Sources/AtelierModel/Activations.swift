import AtelierCore

/// Everything forward saves for backward, plus backward's scratch, for micro-batches of B
/// sequences of T tokens (N = B*T rows), in one allocation with named views.
///
/// What is saved depends on `train.recompute`: with `none` every block has its own tensors; with
/// `attention` the blocks share one set of attention tensors (ln1, qkv, attention output), which
/// backward fills again block by block; with `blocks` they share every block tensor and only the
/// residual stream (each block's input) is kept. The logits never exist whole: the loss computes
/// them `lossChunkRows` rows at a time.
public final class Activations: @unchecked Sendable {
    public let batch: Int, sequence: Int, rows: Int
    public let recompute: Recompute
    /// Rows of logits the loss computes at once (logitsChunk is [lossChunkRows, V]).
    public let lossChunkRows: Int
    public let storage: FloatBuffer

    /// One block's saved tensors (shared between blocks where `recompute` says so).
    public struct Block {
        public let ln1, ln1Mean, ln1Rstd: UnsafeMutablePointer<Float>   // [N, C], [N], [N]
        public let qkv: UnsafeMutablePointer<Float>                      // [N, 3C]
        public let lse: UnsafeMutablePointer<Float>                      // [B, H, T] attention's log-sum-exp per query
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
    public let logitsChunk: UnsafeMutablePointer<Float>              // [lossChunkRows, V]; dlogits in the loss
    // backward scratch
    public let dResidual, dHidden: UnsafeMutablePointer<Float>       // [N, C]; dHidden holds dfinal after the loss
    public let dQKV: UnsafeMutablePointer<Float>                     // [N, 3C]
    public let dFC: UnsafeMutablePointer<Float>                      // [N, 4C]

    public var tokens: [Int32]    // [N] inputs
    public var targets: [Int32]   // [N] next tokens (CrossEntropy.ignoreIndex for padding)
    /// Set by `BloomModel.loss` with a gradient scale (dHidden holds dfinal); `backward` needs it.
    public var hasOutputGradient = false

    /// The logits the loss holds at once: 32 Mi floats (128 MiB), at least one row. BLOOM-560m's
    /// vocabulary gives 133 rows; the benchmark shape's 1024.
    public static let logitsChunkFloats = 1 << 25

    /// Rows per loss chunk for a vocabulary of V and N rows.
    public static func lossChunkRows(vocab V: Int, rows N: Int) -> Int {
        max(1, min(N, logitsChunkFloats / max(V, 1)))
    }

    /// How many separate attention sets and MLP sets a recompute policy keeps for L blocks.
    static func sets(_ recompute: Recompute, layers L: Int) -> (attention: Int, mlp: Int) {
        switch recompute {
        case .none: return (L, L)
        case .attention: return (1, L)
        case .blocks: return (1, 1)
        }
    }

    /// The views' float counts, in storage order: the one place the layout's sizes are written.
    /// Nil when one of them does not fit in an Int.
    static func viewSizes(shape: ModelShape, batch B: Int, recompute: Recompute, chunkRows: Int) -> [Int]? {
        let T = shape.sequenceLength, C = shape.hiddenSize, V = shape.vocabSize, H = shape.heads, L = shape.layers
        guard let N = checkedProduct(B, T) else { return nil }
        let NC = checkedProduct(N, C), N3C = checkedProduct(N, 3, C), N4C = checkedProduct(N, 4, C)
        let (attentionSets, mlpSets) = sets(recompute, layers: L)
        var sizes: [Int?] = [NC, N, N]                                             // embedded, mean, rstd
        sizes += Array(repeating: NC, count: L + 1)                               // residual[0...L]
        let attention: [Int?] = [NC, N, N, N3C, checkedProduct(B, H, T), NC]      // ln1, mean, rstd, qkv, lse, att
        for _ in 0..<attentionSets { sizes += attention }
        let mlp: [Int?] = [NC, NC, N, N, N4C, N4C]                                // residualMid, ln2, mean, rstd, fc, gelu
        for _ in 0..<mlpSets { sizes += mlp }
        sizes += [NC, N, N, checkedProduct(chunkRows, V)]                         // final, mean, rstd, logitsChunk
        sizes += [NC, NC, N3C, N4C]                                               // dResidual, dHidden, dQKV, dFC
        let known = sizes.compactMap { $0 }
        return known.count == sizes.count ? known : nil
    }

    /// Where each view starts (on a 64-byte boundary) and the total floats they take; nil when
    /// a count does not fit in an Int.
    static func layout(shape: ModelShape, batch: Int, recompute: Recompute, chunkRows: Int) -> (offsets: [Int], total: Int)? {
        guard let sizes = viewSizes(shape: shape, batch: batch, recompute: recompute, chunkRows: chunkRows) else { return nil }
        var offsets: [Int] = []
        var total = 0
        for s in sizes {
            offsets.append(total)
            guard let padded = checkedSum([s, 15]).map({ $0 / 16 * 16 }), let next = checkedSum([total, padded]) else { return nil }
            total = next
        }
        return (offsets, total)
    }

    static func chunkRows(shape: ModelShape, batch: Int, override: Int?) -> Int? {
        guard let N = checkedProduct(batch, shape.sequenceLength) else { return nil }
        return override.map { max(1, min(N, $0)) } ?? lossChunkRows(vocab: shape.vocabSize, rows: N)
    }

    /// Floats `init` allocates for a shape, micro-batch and policy (padding included); nil when
    /// the count does not fit in an Int.
    public static func floatCount(shape: ModelShape, batch: Int, recompute: Recompute = .none) -> Int? {
        chunkRows(shape: shape, batch: batch, override: nil).flatMap {
            layout(shape: shape, batch: batch, recompute: recompute, chunkRows: $0)?.total
        }
    }

    /// Bytes of everything an instance holds: the float storage and the [N] tokens and targets.
    public static func bytes(shape: ModelShape, batch: Int, recompute: Recompute = .none) -> Int? {
        guard let floats = floatCount(shape: shape, batch: batch, recompute: recompute),
              let rows = checkedProduct(batch, shape.sequenceLength) else { return nil }
        return checkedSum([checkedProduct(floats, MemoryLayout<Float>.stride), checkedProduct(2, rows, MemoryLayout<Int32>.stride)])
    }

    /// For shapes known to fit (tests, sampling): an overflow or a failed allocation stops the
    /// process. The trainer uses `allocate`. `lossChunkRows` overrides the loss's chunk (tests).
    public convenience init(shape: ModelShape, batch: Int, recompute: Recompute = .none, lossChunkRows: Int? = nil) {
        guard let chunk = Self.chunkRows(shape: shape, batch: batch, override: lossChunkRows),
              let layout = Self.layout(shape: shape, batch: batch, recompute: recompute, chunkRows: chunk) else {
            preconditionFailure("the activations of \(shape) at batch \(batch) do not fit in 64 bits")
        }
        self.init(shape: shape, batch: batch, recompute: recompute, chunkRows: chunk, offsets: layout.offsets,
                  storage: FloatBuffer(count: layout.total))
    }

    /// Allocates the activations of a job's micro-batch; throws `AllocationFailed` when they do not fit.
    public static func allocate(shape: ModelShape, batch: Int, recompute: Recompute = .none) throws -> Activations {
        guard let chunk = chunkRows(shape: shape, batch: batch, override: nil),
              let layout = layout(shape: shape, batch: batch, recompute: recompute, chunkRows: chunk) else {
            throw AllocationFailed(what: "the activations", floats: nil)
        }
        return Activations(shape: shape, batch: batch, recompute: recompute, chunkRows: chunk, offsets: layout.offsets,
                           storage: try FloatBuffer(count: layout.total, for: "the activations"))
    }

    /// `offsets` are `layout`'s, in `viewSizes`' order, into `storage`.
    private init(shape: ModelShape, batch B: Int, recompute: Recompute, chunkRows: Int, offsets: [Int], storage: FloatBuffer) {
        let T = shape.sequenceLength, L = shape.layers
        let N = B * T
        batch = B; sequence = T; rows = N
        self.recompute = recompute
        lossChunkRows = chunkRows
        self.storage = storage
        var next = offsets.makeIterator()
        let base = storage.base
        func view() -> UnsafeMutablePointer<Float> { base + (next.next() ?? 0) }
        embedded = view(); embeddedMean = view(); embeddedRstd = view()
        residual = (0...L).map { _ in view() }
        let (attentionSets, mlpSets) = Self.sets(recompute, layers: L)
        let attention = (0..<attentionSets).map { _ in (ln1: view(), mean: view(), rstd: view(), qkv: view(), lse: view(), att: view()) }
        let mlp = (0..<mlpSets).map { _ in (mid: view(), ln2: view(), mean: view(), rstd: view(), fc: view(), gelu: view()) }
        blocks = (0..<L).map { l in
            let a = attention[min(l, attentionSets - 1)], m = mlp[min(l, mlpSets - 1)]
            return Block(ln1: a.ln1, ln1Mean: a.mean, ln1Rstd: a.rstd, qkv: a.qkv, lse: a.lse, att: a.att,
                         residualMid: m.mid, ln2: m.ln2, ln2Mean: m.mean, ln2Rstd: m.rstd, fc: m.fc, gelu: m.gelu)
        }
        final = view(); finalMean = view(); finalRstd = view(); logitsChunk = view()
        dResidual = view(); dHidden = view(); dQKV = view(); dFC = view()
        tokens = [Int32](repeating: 0, count: N)
        targets = [Int32](repeating: 0, count: N)
    }
}
