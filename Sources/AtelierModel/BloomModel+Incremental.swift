import AtelierCore

extension BloomModel {
    /// The forward pass of generation: `tokens` [n] at positions p0..<p0+n (p0 = cache.count) ->
    /// logits [V] of the last of them, which point into `scratch` until its next use. Each block
    /// stores the new positions' keys and values in `cache` and attends over all cached positions,
    /// so a prompt costs one pass over its own tokens (not the whole window) and each generated
    /// token one position. The same ops, in the same order, as `forward`; lm_head runs on the last
    /// row only. Tokens go through in chunks of `scratch.rows`.
    public func forward(appending tokens: [Int32], to cache: KeyValueCache, scratch: IncrementalScratch) -> UnsafePointer<Float> {
        precondition(!tokens.isEmpty && cache.count + tokens.count <= cache.capacity,
                     "\(tokens.count) tokens do not fit a cache holding \(cache.count) of \(cache.capacity) positions")
        precondition(cache.capacity <= scratch.capacity)
        var last = 0
        for start in stride(from: 0, to: tokens.count, by: scratch.rows) {
            let end = min(tokens.count, start + scratch.rows)
            forwardBlocks(tokens[start..<end], cache: cache, scratch: scratch)
            last = end - start - 1
        }
        let C = shape.hiddenSize, w = params.base, s = scratch
        // ln_f and the tied lm_head for the last position only: logits [1, V] = final [1, C] . E^T
        LayerNorm.forward(out: s.ln, mean: s.mean, rstd: s.rstd, x: s.x + last * C, weight: w + layout.finalNormWeight,
                          bias: w + layout.finalNormBias, rows: 1, channels: C, eps: shape.layerNormEpsilon)
        Linear.forward(y: s.logits, x: s.ln, weight: w + layout.embedding, bias: nil, rows: 1, inFeatures: C,
                       outFeatures: shape.vocabSize)
        return UnsafePointer(s.logits)
    }

    /// One chunk of N <= scratch.rows tokens through the embedding and every block, into scratch.x [N, C].
    func forwardBlocks(_ tokens: ArraySlice<Int32>, cache: KeyValueCache, scratch s: IncrementalScratch) {
        let N = tokens.count, C = shape.hiddenSize, eps = shape.layerNormEpsilon
        let w = params.base
        tokens.withUnsafeBufferPointer { tok in
            Embedding.forward(out: s.ln, tokens: tok.baseAddress!, table: w + layout.embedding, rows: N, channels: C)
        }
        LayerNorm.forward(out: s.x, mean: s.mean, rstd: s.rstd, x: s.ln, weight: w + layout.embeddingNormWeight,
                          bias: w + layout.embeddingNormBias, rows: N, channels: C, eps: eps)
        for (l, o) in layout.blocks.enumerated() {
            // x [N, C] += dense(attention(qkv(ln1(x)))) over the cache
            LayerNorm.forward(out: s.ln, mean: s.mean, rstd: s.rstd, x: s.x, weight: w + o.ln1Weight,
                              bias: w + o.ln1Bias, rows: N, channels: C, eps: eps)
            Linear.forward(y: s.qkv, x: s.ln, weight: w + o.qkvWeight, bias: w + o.qkvBias, rows: N, inFeatures: C, outFeatures: 3 * C)
            cache.store(layer: l, qkv: s.qkv, rows: N)
            Attention.forward(out: s.att, qkv: s.qkv, rows: N, cache: cache, layer: l, slopes: slopes, scores: s.scores)
            Linear.forward(y: s.x, x: s.att, weight: w + o.denseWeight, bias: w + o.denseBias,
                           rows: N, inFeatures: C, outFeatures: C, accumulate: true)
            // x += fc2(gelu(fc1(ln2(x))))
            mlpForward(o, residual: s.x, x: s.x, ln2: s.ln, mean: s.mean, rstd: s.rstd, fc: s.fc, gelu: s.gelu, rows: N)
        }
        cache.advance(by: N)
    }
}

/// The working memory of `BloomModel.forward(appending:to:scratch:)` for chunks of up to `rows`
/// positions over a cache of up to `capacity` positions: nothing is kept for backward, and no
/// [T, V] logits.
public final class IncrementalScratch: @unchecked Sendable {
    public let rows: Int, capacity: Int
    let x, ln, att: UnsafeMutablePointer<Float>     // [rows, C]: the residual stream, a LayerNorm's output, attention's
    let qkv: UnsafeMutablePointer<Float>            // [rows, 3C]
    let fc, gelu: UnsafeMutablePointer<Float>       // [rows, 4C]
    let mean, rstd: UnsafeMutablePointer<Float>     // [rows] (LayerNorm's; nothing reads them)
    let scores: UnsafeMutablePointer<Float>         // [rows, capacity]: one head's attention
    let logits: UnsafeMutablePointer<Float>         // [V]
    let buffers: [FloatBuffer]

    public init(shape: ModelShape, capacity: Int? = nil, rows: Int = 128) throws {
        let C = shape.hiddenSize
        self.rows = rows
        self.capacity = capacity ?? shape.sequenceLength
        precondition(rows > 0 && self.capacity > 0)
        buffers = try [checkedProduct(rows, C), checkedProduct(rows, C), checkedProduct(rows, C), checkedProduct(rows, 3, C),
                       checkedProduct(rows, 4, C), checkedProduct(rows, 4, C), rows, rows, checkedProduct(rows, self.capacity),
                       shape.vocabSize].map { count in
            guard let count else { throw AllocationFailed(what: "generation's scratch", floats: nil) }
            return try FloatBuffer(count: count, for: "generation's scratch")
        }
        let p = buffers.map(\.base)
        x = p[0]; ln = p[1]; att = p[2]; qkv = p[3]; fc = p[4]; gelu = p[5]; mean = p[6]; rstd = p[7]; scores = p[8]; logits = p[9]
    }

    public var bytes: Int { buffers.map(\.bytes).reduce(0, +) }
}
