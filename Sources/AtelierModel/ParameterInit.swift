import AtelierCore

extension ParameterLayout {
    /// BLOOM's initialisation: weights ~ normal(0, sigma); the two output projections of each block
    /// (self_attention.dense, mlp.dense_4h_to_h) scaled by 1/sqrt(2L); biases 0; LayerNorm weights 1.
    /// Each tensor draws from its own stream of the seed, so the result does not depend on order.
    public func initialize(_ params: FloatBuffer, seed: UInt64) {
        precondition(params.count == count)
        let sigma = shape.initStd
        let outputScale = 1.0 / (2.0 * Double(shape.layers)).squareRoot()
        for (index, t) in tensors.enumerated() {
            let p = params.base + t.offset
            if t.name.hasSuffix("layernorm.weight") || t.name.hasSuffix("ln_f.weight") {
                for i in 0..<t.count { p[i] = 1 }
            } else if t.name.hasSuffix(".bias") {
                for i in 0..<t.count { p[i] = 0 }
            } else {
                let isOutput = t.name.hasSuffix("self_attention.dense.weight") || t.name.hasSuffix("mlp.dense_4h_to_h.weight")
                let std = isOutput ? sigma * outputScale : sigma
                var rng = SeededRandom(seed: seed, stream: UInt64(index) &+ 0x1417)
                for i in 0..<t.count { p[i] = Float(rng.nextGaussian() * std) }
            }
        }
    }

    /// A hash of the parameter bytes (`fingerprint64`), for checking that ranks hold identical weights.
    public func hash(_ params: FloatBuffer) -> UInt64 {
        fingerprint64(UnsafeRawBufferPointer(start: params.base, count: params.bytes))
    }
}
