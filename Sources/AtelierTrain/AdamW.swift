import AtelierJob
import AtelierModel

/// AdamW (decoupled weight decay, as torch.optim.AdamW) over the flat buffers. The two moments each
/// live in one buffer laid out like the parameters. Weight decay applies to the tensors the layout
/// marks (matmul weights, embeddings), not to biases or LayerNorm parameters.
public final class AdamW {
    public let settings: OptimizerSettings
    public let expAvg: FloatBuffer      // m, first moment
    public let expAvgSq: FloatBuffer    // v, second moment
    public private(set) var step = 0    // updates applied (skipped iterations excluded)
    let layout: ParameterLayout

    /// Floats the two moments take for `parameters` parameters (what `init` allocates).
    public static func stateFloats(parameters: Int) -> Int { 2 * parameters }

    /// Throws `AllocationFailed` when the moments do not fit in memory.
    public init(layout: ParameterLayout, settings: OptimizerSettings) throws {
        self.layout = layout
        self.settings = settings
        expAvg = try FloatBuffer(count: layout.count, for: "the Adam first moments (m)")
        expAvgSq = try FloatBuffer(count: layout.count, for: "the Adam second moments (v)")
    }

    /// Continues from a checkpoint that had applied `step` updates (the moments are loaded separately).
    public func restore(step: Int) { self.step = step }

    /// One update with learning rate `lr`, gradients multiplied by `gradScale` first (clipping).
    public func update(params: FloatBuffer, grads: FloatBuffer, lr: Double, gradScale: Float) {
        step += 1
        let b1 = Float(settings.beta1), b2 = Float(settings.beta2)
        let correction1 = 1 - pow(settings.beta1, Double(step))
        let correction2 = 1 - pow(settings.beta2, Double(step))
        let stepSize = Float(lr / correction1)
        let rootCorrection2 = Float(correction2.squareRoot())
        let eps = Float(settings.eps)
        for t in layout.tensors {
            let decay = t.decays ? Float(1 - lr * settings.weightDecay) : 1
            let p = params.base + t.offset, g = grads.base + t.offset
            let m = expAvg.base + t.offset, v = expAvgSq.base + t.offset
            let n = t.count
            var i = 0
            while i + 16 <= n {
                let gi = load(g + i) * gradScale
                let mi = b1 * load(m + i) + (1 - b1) * gi
                let vi = b2 * load(v + i) + (1 - b2) * gi * gi
                store(mi, m + i); store(vi, v + i)
                let denom = vi.squareRoot() / rootCorrection2 + eps
                store(load(p + i) * decay - stepSize * mi / denom, p + i)
                i += 16
            }
            while i < n {
                let gi = g[i] * gradScale
                m[i] = b1 * m[i] + (1 - b1) * gi
                v[i] = b2 * v[i] + (1 - b2) * gi * gi
                p[i] = p[i] * decay - stepSize * m[i] / (v[i].squareRoot() / rootCorrection2 + eps)
                i += 1
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
