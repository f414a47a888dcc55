import AtelierCore
import BLAS

/// BLOOM as Hugging Face's `BloomForCausalLM` defines it, fp32:
/// word embeddings -> embedding LayerNorm -> L x [LN -> fused QKV -> causal ALiBi attention -> dense
/// -> residual; LN -> h->4h -> GeLU -> 4h->h -> residual] -> ln_f -> lm_head (tied to the embeddings).
/// Parameters and gradients are flat buffers laid out by `ParameterLayout`.
public final class BloomModel: @unchecked Sendable {
    public let shape: ModelShape
    public let layout: ParameterLayout
    public let params: FloatBuffer
    /// Mirrors `params`; empty in a model built with `gradients: false`.
    public let grads: FloatBuffer
    let slopes: [Float]

    /// `gradients: false` builds a model for inference only (generation): no gradient buffer, so
    /// it needs the parameters' memory once instead of twice; `backward` refuses it.
    /// For shapes known to fit (tests, fixed benchmark shapes); a shape from a job or a file goes
    /// through `allocate`, which throws instead.
    public convenience init(shape: ModelShape, gradients: Bool = true) {
        let layout = ParameterLayout(shape: shape)
        self.init(layout: layout, params: FloatBuffer(count: layout.count), grads: FloatBuffer(count: gradients ? layout.count : 0))
    }

    /// A model whose buffers are allocated with a thrown `AllocationFailed` when the memory is not there.
    public static func allocate(shape: ModelShape, gradients: Bool = true) throws -> BloomModel {
        let layout = ParameterLayout(shape: shape)
        return BloomModel(layout: layout, params: try FloatBuffer(count: layout.count, for: "the model's parameters"),
                          grads: try FloatBuffer(count: gradients ? layout.count : 0, for: "the gradients"))
    }

    private init(layout: ParameterLayout, params: FloatBuffer, grads: FloatBuffer) {
        shape = layout.shape
        self.layout = layout
        self.params = params
        self.grads = grads
        slopes = ALiBi.slopes(heads: shape.heads)
    }

    public var hasGradients: Bool { grads.count == layout.count }

    /// acts.tokens [B, T] -> acts.final [B, T, C] (after ln_f; `loss` applies lm_head chunk by chunk).
    public func forward(_ acts: Activations) {
        let N = acts.rows, C = shape.hiddenSize, eps = shape.layerNormEpsilon
        let w = params.base
        acts.tokens.withUnsafeBufferPointer { tok in
            Embedding.forward(out: acts.embedded, tokens: tok.baseAddress!, table: w + layout.embedding, rows: N, channels: C)
        }
        LayerNorm.forward(out: acts.residual[0], mean: acts.embeddedMean, rstd: acts.embeddedRstd, x: acts.embedded,
                          weight: w + layout.embeddingNormWeight, bias: w + layout.embeddingNormBias, rows: N, channels: C, eps: eps)
        for l in 0..<shape.layers {
            attentionForward(block: l, acts)
            residualMidForward(block: l, acts)
            let a = acts.blocks[l], next = acts.residual[l + 1]
            Parallel.copy(next, from: a.residualMid, count: N * C)
            mlpForward(layout.blocks[l], residual: next, x: a.residualMid, ln2: a.ln2, mean: a.ln2Mean, rstd: a.ln2Rstd,
                       fc: a.fc, gelu: a.gelu, rows: N)
        }
        LayerNorm.forward(out: acts.final, mean: acts.finalMean, rstd: acts.finalRstd, x: acts.residual[shape.layers],
                          weight: w + layout.finalNormWeight, bias: w + layout.finalNormBias, rows: N, channels: C, eps: eps)
    }

    /// Block l's attention half up to the dense layer, from its input residual[l] [N, C]:
    /// ln1 [N, C] (mean, rstd [N]), qkv [N, 3C], attention output att [N, C] (and what attention saves).
    func attentionForward(block l: Int, _ acts: Activations) {
        let N = acts.rows, C = shape.hiddenSize, o = layout.blocks[l], a = acts.blocks[l], w = params.base
        LayerNorm.forward(out: a.ln1, mean: a.ln1Mean, rstd: a.ln1Rstd, x: acts.residual[l], weight: w + o.ln1Weight,
                          bias: w + o.ln1Bias, rows: N, channels: C, eps: shape.layerNormEpsilon)
        Linear.forward(y: a.qkv, x: a.ln1, weight: w + o.qkvWeight, bias: w + o.qkvBias, rows: N, inFeatures: C, outFeatures: 3 * C)
        Attention.forward(out: a.att, lse: a.lse, qkv: a.qkv, slopes: slopes, batch: acts.batch, sequence: acts.sequence,
                          heads: shape.heads, headDim: shape.headDim)
    }

    /// residualMid [N, C] = residual[l] + dense(att): block l's stream after attention.
    func residualMidForward(block l: Int, _ acts: Activations) {
        let N = acts.rows, C = shape.hiddenSize, o = layout.blocks[l], a = acts.blocks[l], w = params.base
        Parallel.copy(a.residualMid, from: acts.residual[l], count: N * C)
        Linear.forward(y: a.residualMid, x: a.att, weight: w + o.denseWeight, bias: w + o.denseBias,
                       rows: N, inFeatures: C, outFeatures: C, accumulate: true)
    }

    /// Block o's MLP sublayer: residual [N, C] += fc2(gelu(fc1(ln2(x)))), where residual holds x
    /// (or is x: x is read before residual is written). Leaves ln2 [N, C], its mean and rstd [N],
    /// fc and gelu [N, 4C] for backward.
    func mlpForward(_ o: BlockOffsets, residual: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
                    ln2: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                    fc: UnsafeMutablePointer<Float>, gelu: UnsafeMutablePointer<Float>, rows N: Int) {
        let C = shape.hiddenSize, w = params.base
        mlpHidden(o, x: x, ln2: ln2, mean: mean, rstd: rstd, fc: fc, gelu: gelu, rows: N)
        Linear.forward(y: residual, x: gelu, weight: w + o.fc2Weight, bias: w + o.fc2Bias,
                       rows: N, inFeatures: 4 * C, outFeatures: C, accumulate: true)
    }

    /// The MLP up to fc2's input: ln2 [N, C] (mean, rstd [N]), fc = fc1(ln2) and gelu(fc) [N, 4C].
    func mlpHidden(_ o: BlockOffsets, x: UnsafePointer<Float>, ln2: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>,
                   rstd: UnsafeMutablePointer<Float>, fc: UnsafeMutablePointer<Float>, gelu: UnsafeMutablePointer<Float>, rows N: Int) {
        let C = shape.hiddenSize, w = params.base
        LayerNorm.forward(out: ln2, mean: mean, rstd: rstd, x: x, weight: w + o.ln2Weight, bias: w + o.ln2Bias,
                          rows: N, channels: C, eps: shape.layerNormEpsilon)
        Linear.forward(y: fc, x: ln2, weight: w + o.fc1Weight, bias: w + o.fc1Bias, rows: N, inFeatures: C, outFeatures: 4 * C)
        GeLU.forward(out: gelu, x: fc, count: N * 4 * C)
    }

    /// Fills block l's shared tensors again before its backward, as `acts.recompute` says: the
    /// same ops on the same inputs as `forward`, so the same bits.
    func recomputeForward(block l: Int, _ acts: Activations) {
        switch acts.recompute {
        case .none: return
        case .attention:
            attentionForward(block: l, acts)
        case .blocks:
            attentionForward(block: l, acts)
            residualMidForward(block: l, acts)
            let a = acts.blocks[l]
            mlpHidden(layout.blocks[l], x: a.residualMid, ln2: a.ln2, mean: a.ln2Mean, rstd: a.ln2Rstd, fc: a.fc, gelu: a.gelu, rows: acts.rows)
        }
    }

    /// logits [rows.count, V] of the given rows of acts.final (after `forward`), into `out`: the tied lm_head.
    public func logits(_ acts: Activations, rows: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        let C = shape.hiddenSize
        Linear.forward(y: out, x: acts.final + rows.lowerBound * C, weight: params.base + layout.embedding, bias: nil,
                       rows: rows.count, inFeatures: C, outFeatures: shape.vocabSize)
    }

    /// logits [rows.count, V] of the given rows, as a new array (tests, small windows).
    public func logits(_ acts: Activations, rows: Range<Int>) -> [Float] {
        [Float](unsafeUninitializedCapacity: rows.count * shape.vocabSize) { buffer, count in
            logits(acts, rows: rows, into: buffer.baseAddress!)
            count = rows.count * shape.vocabSize
        }
    }

    /// lm_head and cross-entropy against acts.targets, fused and computed `acts.lossChunkRows` rows
    /// at a time, so the [N, V] logits never exist whole: per chunk, logits [R, V] = final . E^T, the
    /// loss, and with `gradientScale` dlogits = (softmax - onehot) * scale, dfinal [R, C] = dlogits . E
    /// (into acts.dHidden) and dE += dlogits^T . final. Returns the summed loss (nats) and the
    /// number of counted targets. `backward` goes on from dfinal.
    public func loss(_ acts: Activations, gradientScale: Float?) -> (loss: Double, count: Int) {
        precondition(gradientScale == nil || hasGradients, "a loss gradient on a model built with gradients: false")
        let N = acts.rows, C = shape.hiddenSize, V = shape.vocabSize, R = acts.lossChunkRows
        let table = params.base + layout.embedding
        var total = 0.0, count = 0
        acts.targets.withUnsafeBufferPointer { t in
            for r0 in stride(from: 0, to: N, by: R) {
                let rows = r0..<min(N, r0 + R)
                logits(acts, rows: rows, into: acts.logitsChunk)
                let part = CrossEntropy.forwardBackward(logits: acts.logitsChunk, targets: t.baseAddress! + r0, rows: rows.count,
                                                        vocab: V, gradientScale: gradientScale)
                total += part.loss
                count += part.count
                if gradientScale != nil {
                    Linear.backward(dx: acts.dHidden + r0 * C, dweight: grads.base + layout.embedding, dbias: nil, dy: acts.logitsChunk,
                                    x: acts.final + r0 * C, weight: table, rows: rows.count, inFeatures: C, outFeatures: V)
                }
            }
        }
        acts.hasOutputGradient = gradientScale != nil
        return (total, count)
    }

    /// Backward from dfinal (acts.dHidden, left by `loss` with a gradient scale, which also added
    /// lm_head's share of the table's gradient), accumulating into `grads`. Tells `observer` as
    /// each range of gradients becomes final, in `layout.backwardUnits` order when the observer
    /// takes the embedding lookup's gradient, else with the whole embedding range last.
    public func backward(_ acts: Activations, observer: GradientObserver? = nil) {
        precondition(hasGradients, "backward on a model built with gradients: false")
        precondition(acts.hasOutputGradient, "backward before loss(_:gradientScale:) left the output's gradient")
        acts.hasOutputGradient = false
        let B = acts.batch, T = acts.sequence, N = acts.rows
        let C = shape.hiddenSize, H = shape.heads, D = shape.headDim
        let w = params.base, g = grads.base
        let dres = acts.dResidual, dh = acts.dHidden
        let lookupTaken = observer?.takesEmbeddingLookup ?? false
        if lookupTaken { observer?.gradientsReady(layout.embeddingTableRange) }
        Parallel.fill(dres, with: 0, count: N * C)
        LayerNorm.backward(dx: dres, dweight: g + layout.finalNormWeight, dbias: g + layout.finalNormBias, dout: dh,
                           x: acts.residual[shape.layers], weight: w + layout.finalNormWeight,
                           mean: acts.finalMean, rstd: acts.finalRstd, rows: N, channels: C)
        observer?.gradientsReady(layout.finalNormRange)
        for l in stride(from: shape.layers - 1, through: 0, by: -1) {
            let o = layout.blocks[l], a = acts.blocks[l]
            recomputeForward(block: l, acts)
            // MLP: residual[l+1] = residualMid + fc2(gelu(fc1(ln2(residualMid))))
            Linear.backward(dx: acts.dFC, dweight: g + o.fc2Weight, dbias: g + o.fc2Bias, dy: dres, x: a.gelu,
                            weight: w + o.fc2Weight, rows: N, inFeatures: 4 * C, outFeatures: C)
            observer?.gradientsReady(o.fc2Range)
            GeLU.backward(dinout: acts.dFC, x: a.fc, count: N * 4 * C)
            Linear.backward(dx: dh, dweight: g + o.fc1Weight, dbias: g + o.fc1Bias, dy: acts.dFC, x: a.ln2,
                            weight: w + o.fc1Weight, rows: N, inFeatures: C, outFeatures: 4 * C)
            observer?.gradientsReady(o.fc1Range)
            LayerNorm.backward(dx: dres, dweight: g + o.ln2Weight, dbias: g + o.ln2Bias, dout: dh, x: a.residualMid,
                               weight: w + o.ln2Weight, mean: a.ln2Mean, rstd: a.ln2Rstd, rows: N, channels: C)
            observer?.gradientsReady(o.ln2Range)
            // attention: residualMid = residual[l] + dense(attention(qkv(ln1(residual[l]))))
            Linear.backward(dx: dh, dweight: g + o.denseWeight, dbias: g + o.denseBias, dy: dres, x: a.att,
                            weight: w + o.denseWeight, rows: N, inFeatures: C, outFeatures: C)
            observer?.gradientsReady(o.denseRange)
            Attention.backward(dqkv: acts.dQKV, dout: dh, out: a.att, lse: a.lse, qkv: a.qkv, slopes: slopes,
                               batch: B, sequence: T, heads: H, headDim: D)
            observer?.progress()
            Linear.backward(dx: dh, dweight: g + o.qkvWeight, dbias: g + o.qkvBias, dy: acts.dQKV, x: a.ln1,
                            weight: w + o.qkvWeight, rows: N, inFeatures: C, outFeatures: 3 * C)
            observer?.gradientsReady(o.qkvRange)
            LayerNorm.backward(dx: dres, dweight: g + o.ln1Weight, dbias: g + o.ln1Bias, dout: dh, x: acts.residual[l],
                               weight: w + o.ln1Weight, mean: a.ln1Mean, rstd: a.ln1Rstd, rows: N, channels: C)
            observer?.gradientsReady(o.ln1Range)
        }
        Parallel.fill(dh, with: 0, count: N * C)
        LayerNorm.backward(dx: dh, dweight: g + layout.embeddingNormWeight, dbias: g + layout.embeddingNormBias, dout: dres,
                           x: acts.embedded, weight: w + layout.embeddingNormWeight,
                           mean: acts.embeddedMean, rstd: acts.embeddedRstd, rows: N, channels: C)
        acts.tokens.withUnsafeBufferPointer { tok in
            if let observer, lookupTaken {
                observer.embeddingLookup(dout: dh, tokens: tok.baseAddress!, rows: N, channels: C)
            } else {
                Embedding.backward(dtable: g + layout.embedding, dout: dh, tokens: tok.baseAddress!, rows: N, channels: C)
            }
        }
        observer?.gradientsReady(lookupTaken ? layout.embeddingNormRange : layout.embeddingRange)
    }
}
