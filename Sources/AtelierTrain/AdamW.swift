import AtelierJob
import AtelierModel

/// AdamW (decoupled weight decay, as torch.optim.AdamW) over the flat buffers. The two moments cover
/// `shard`, a contiguous range of the flat parameters: all of them (ZeRO stage 0, one rank), or this
/// rank's `ParameterShards` range (stage 1), so each moment is one buffer laid out like that range
/// of the parameters. Weight decay applies to the tensors the layout marks (matmul weights,
/// embeddings), not to biases or LayerNorm parameters; a shard may begin or end inside a tensor.
public final class AdamW {
    public let settings: OptimizerSettings
    public let shard: Range<Int>        // flat parameter offsets this optimizer updates
    public let expAvg: FloatBuffer      // m, first moment [shard.count]
    public let expAvgSq: FloatBuffer    // v, second moment [shard.count]
    public private(set) var step = 0    // updates applied (skipped iterations excluded)
    let layout: ParameterLayout

    /// Floats the two moments take for a shard of `parameters` parameters (what `init` allocates).
    public static func stateFloats(parameters: Int) -> Int { 2 * parameters }

    /// Throws `AllocationFailed` when the moments do not fit in memory. `shard` defaults to all the
    /// parameters.
    public init(layout: ParameterLayout, settings: OptimizerSettings, shard: Range<Int>? = nil) throws {
        self.layout = layout
        self.settings = settings
        self.shard = shard ?? 0..<layout.count
        precondition(self.shard.lowerBound >= 0 && self.shard.upperBound <= layout.count)
        expAvg = try FloatBuffer(count: self.shard.count, for: "the Adam first moments (m)")
        expAvgSq = try FloatBuffer(count: self.shard.count, for: "the Adam second moments (v)")
    }

    /// Continues from a checkpoint that had applied `step` updates (the moments are loaded separately).
    public func restore(step: Int) { self.step = step }

    /// One update of the shard with learning rate `lr`, gradients multiplied by `gradScale` first
    /// (clipping). `params` and `grads` are the whole flat buffers [P]; only the shard's elements
    /// are read or written. The shard is cut into parts on the rank's threads (whole vectors); each
    /// element's result does not depend on the cut.
    public func update(params: FloatBuffer, grads: FloatBuffer, lr: Double, gradScale: Float) {
        step += 1
        let correction1 = 1 - pow(settings.beta1, Double(step))
        let correction2 = 1 - pow(settings.beta2, Double(step))
        let constants = Constants(b1: Float(settings.beta1), b2: Float(settings.beta2), stepSize: Float(lr / correction1),
                                  rootCorrection2: Float(correction2.squareRoot()), eps: Float(settings.eps),
                                  gradScale: gradScale, decay: Float(1 - lr * settings.weightDecay))
        let first = shard.lowerBound
        let tensors = layout.tensors
        let (p0, g0, m0, v0) = (params.base, grads.base, expAvg.base, expAvgSq.base)
        Parallel.forEachRange(shard.count, grain: 1 << 14, alignment: 16) { part in
            // This part in flat offsets, cut at the tensors it crosses (each with its decay flag).
            let flat = (first + part.lowerBound)..<(first + part.upperBound)
            for t in tensors where t.offset < flat.upperBound && t.offset + t.count > flat.lowerBound {
                let piece = flat.clamped(to: t.offset..<(t.offset + t.count))
                let i0 = piece.lowerBound, local = piece.lowerBound - first
                Self.apply(constants, decays: t.decays, p: p0 + i0, g: g0 + i0, m: m0 + local, v: v0 + local, count: piece.count)
            }
        }
    }

    struct Constants {
        let b1, b2, stepSize, rootCorrection2, eps, gradScale, decay: Float
    }

    /// The AdamW formula over `count` elements: p, g [count] of the parameters, m, v [count] of the
    /// moments. Tail lanes load zeros (v = 0 gives a denominator of eps) and are not stored.
    @inline(__always)
    static func apply(_ c: Constants, decays: Bool, p: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>,
                      m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, count: Int) {
        let decay = decays ? c.decay : 1
        @_transparent func update(_ i: Int, _ lanes: Int) {
            let gi = load(g + i, count: lanes) * c.gradScale
            let mi = c.b1 * load(m + i, count: lanes) + (1 - c.b1) * gi
            let vi = c.b2 * load(v + i, count: lanes) + (1 - c.b2) * gi * gi
            store(mi, m + i, count: lanes)
            store(vi, v + i, count: lanes)
            let denom = vi.squareRoot() / c.rootCorrection2 + c.eps
            store(load(p + i, count: lanes) * decay - c.stepSize * mi / denom, p + i, count: lanes)
        }
        forEachVector(count, update)
    }
}

#if canImport(Glibc)
import Glibc
#endif
