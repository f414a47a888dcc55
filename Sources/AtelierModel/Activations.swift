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

    /// The views' float counts, in storage order: the one place the layout's sizes are written.
    /// Nil when one of them does not fit in an Int.
    static func viewSizes(shape: ModelShape, batch B: Int) -> [Int]? {
        let T = shape.sequenceLength, C = shape.hiddenSize, V = shape.vocabSize, H = shape.heads, L = shape.layers
        guard let N = checkedProduct(B, T) else { return nil }
        let NC = checkedProduct(N, C), N3C = checkedProduct(N, 3, C), N4C = checkedProduct(N, 4, C)
        var sizes: [Int?] = [NC, N, N]                                             // embedded, mean, rstd
        sizes += Array(repeating: NC, count: L + 1)                               // residual[0...L]
        let block: [Int?] = [NC, N, N, N3C, checkedProduct(B, H, T, T), NC,       // ln1, mean, rstd, qkv, probs, att
                             NC, NC, N, N, N4C, N4C]                              // residualMid, ln2, mean, rstd, fc, gelu
        for _ in 0..<L { sizes += block }
        sizes += [NC, N, N, checkedProduct(N, V)]                                 // final, mean, rstd, logits
        sizes += [NC, NC, N3C, N4C, checkedProduct(T, T)]                         // dResidual, dHidden, dQKV, dFC, dScores
        let known = sizes.compactMap { $0 }
        return known.count == sizes.count ? known : nil
    }

    /// Where each view starts (on a 64-byte boundary) and the total floats they take; nil when
    /// a count does not fit in an Int.
    static func layout(shape: ModelShape, batch: Int) -> (offsets: [Int], total: Int)? {
        guard let sizes = viewSizes(shape: shape, batch: batch) else { return nil }
        var offsets: [Int] = []
        var total = 0
        for s in sizes {
            offsets.append(total)
            guard let padded = checkedSum([s, 15]).map({ $0 / 16 * 16 }), let next = checkedSum([total, padded]) else { return nil }
            total = next
        }
        return (offsets, total)
    }

    /// Floats `init` allocates for a shape and micro-batch (padding included); nil when the
    /// count does not fit in an Int.
    public static func floatCount(shape: ModelShape, batch: Int) -> Int? {
        layout(shape: shape, batch: batch)?.total
    }

    /// Bytes of everything an instance holds: the float storage and the [N] tokens and targets.
    public static func bytes(shape: ModelShape, batch: Int) -> Int? {
        guard let floats = floatCount(shape: shape, batch: batch), let rows = checkedProduct(batch, shape.sequenceLength) else { return nil }
        return checkedSum([checkedProduct(floats, MemoryLayout<Float>.stride), checkedProduct(2, rows, MemoryLayout<Int32>.stride)])
    }

    /// For shapes known to fit (tests, sampling): an overflow or a failed allocation stops the
    /// process. The trainer uses `allocate`.
    public convenience init(shape: ModelShape, batch: Int) {
        guard let layout = Self.layout(shape: shape, batch: batch) else {
            preconditionFailure("the activations of \(shape) at batch \(batch) do not fit in 64 bits")
        }
        self.init(shape: shape, batch: batch, offsets: layout.offsets, storage: FloatBuffer(count: layout.total))
    }

    /// Allocates the activations of a job's micro-batch; throws `AllocationFailed` when they do not fit.
    public static func allocate(shape: ModelShape, batch: Int) throws -> Activations {
        guard let layout = layout(shape: shape, batch: batch) else {
            throw AllocationFailed(what: "the activations", floats: nil)
        }
        return Activations(shape: shape, batch: batch, offsets: layout.offsets,
                           storage: try FloatBuffer(count: layout.total, for: "the activations"))
    }

    /// `offsets` are `layout`'s, in `viewSizes`' order, into `storage`.
    private init(shape: ModelShape, batch B: Int, offsets: [Int], storage: FloatBuffer) {
        let T = shape.sequenceLength, L = shape.layers
        let N = B * T
        batch = B; sequence = T; rows = N
        self.storage = storage
        var next = offsets.makeIterator()
        let base = storage.base
        func view() -> UnsafeMutablePointer<Float> { base + (next.next() ?? 0) }
        embedded = view(); embeddedMean = view(); embeddedRstd = view()
        residual = (0...L).map { _ in view() }
        blocks = (0..<L).map { _ in
            Block(ln1: view(), ln1Mean: view(), ln1Rstd: view(), qkv: view(), probs: view(), att: view(),
                  residualMid: view(), ln2: view(), ln2Mean: view(), ln2Rstd: view(), fc: view(), gelu: view())
        }
        final = view(); finalMean = view(); finalRstd = view(); logits = view()
        dResidual = view(); dHidden = view(); dQKV = view(); dFC = view(); dScores = view()
        tokens = [Int32](repeating: 0, count: N)
        targets = [Int32](repeating: 0, count: N)
    }
}
