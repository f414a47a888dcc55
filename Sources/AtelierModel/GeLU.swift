/// BLOOM's GeLU, tanh form: 0.5 x (1 + tanh(0.79788456 x (1 + 0.044715 x^2))).
/// Element-wise over ranges of `Parallel`'s threads (whole vectors in each part but the last), so
/// the result is the same on any thread count.
public enum GeLU {
    static let k0: Float = 0.797_884_56
    static let k1: Float = 0.044_715

    /// tanh's argument: k0 x (1 + k1 x^2), for forward and backward alike.
    @_transparent static func inner(_ v: Vec) -> Vec { k0 * v * (1 + k1 * v * v) }

    /// x [n] -> out [n]
    public static func forward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count n: Int) {
        Parallel.forEachRange(n, grain: Parallel.grainFloats, alignment: 16) { range in
            let x = x + range.lowerBound, out = out + range.lowerBound
            @_transparent func at(_ i: Int, _ lanes: Int) {
                let v = load(x + i, count: lanes)
                store(0.5 * v * (1 + vtanh(inner(v))), out + i, count: lanes)
            }
            forEachVector(range.count, at)
        }
    }

    /// dx = dout * gelu'(x), written over dout in place. [n]
    public static func backward(dinout: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count n: Int) {
        Parallel.forEachRange(n, grain: Parallel.grainFloats, alignment: 16) { range in
            let x = x + range.lowerBound, dinout = dinout + range.lowerBound
            @_transparent func at(_ i: Int, _ lanes: Int) {
                let v = load(x + i, count: lanes)
                let t = vtanh(inner(v))
                let d = 0.5 * v * ((1 - t * t) * (k0 + 3 * k0 * k1 * v * v)) + 0.5 * (1 + t)
                store(load(dinout + i, count: lanes) * d, dinout + i, count: lanes)
            }
            forEachVector(range.count, at)
        }
    }
}
