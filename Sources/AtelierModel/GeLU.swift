/// BLOOM's GeLU, tanh form: 0.5 x (1 + tanh(0.79788456 x (1 + 0.044715 x^2))).
public enum GeLU {
    static let k0: Float = 0.797_884_56
    static let k1: Float = 0.044_715

    /// x [n] -> out [n]
    public static func forward(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count n: Int) {
        var i = 0
        while i + 16 <= n {
            let v = load(x + i)
            store(0.5 * v * (1 + vtanh(k0 * v * (1 + k1 * v * v))), out + i)
            i += 16
        }
        while i < n { let v = x[i]; out[i] = 0.5 * v * (1 + stanh(k0 * v * (1 + k1 * v * v))); i += 1 }
    }

    /// dx = dout * gelu'(x), written over dout in place. [n]
    public static func backward(dinout: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count n: Int) {
        var i = 0
        while i + 16 <= n {
            let v = load(x + i)
            let t = vtanh(k0 * v * (1 + k1 * v * v))
            let d = 0.5 * v * ((1 - t * t) * (k0 + 3 * k0 * k1 * v * v)) + 0.5 * (1 + t)
            store(load(dinout + i) * d, dinout + i)
            i += 16
        }
        while i < n {
            let v = x[i]
            let t = stanh(k0 * v * (1 + k1 * v * v))
            dinout[i] *= 0.5 * v * ((1 - t * t) * (k0 + 3 * k0 * k1 * v * v)) + 0.5 * (1 + t)
            i += 1
        }
    }
}
