/// The interface BloomModel and Activations call until they pass out and lse (the lead wires
/// `Attention.forward(out:lse:...)` and `backward(dqkv:dout:out:lse:...)` in, then deletes this
/// file, Activations' probs [B, H, T, T] and dScores [T, T]). `probs` only holds lse [B, H, T] now;
/// backward recomputes out and lse (with BLOOM's slopes, as BloomModel uses: the old backward took
/// none), which the new interface takes from the caller, so it costs one more forward.
extension Attention {
    public static func forward(out: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
                               qkv: UnsafePointer<Float>, slopes: [Float],
                               batch B: Int, sequence T: Int, heads H: Int, headDim D: Int) {
        forward(out: out, lse: probs, qkv: qkv, slopes: slopes, batch: B, sequence: T, heads: H, headDim: D)
    }

    public static func backward(dqkv: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
                                qkv: UnsafePointer<Float>, probs: UnsafePointer<Float>,
                                scratch: UnsafeMutablePointer<Float>,
                                batch B: Int, sequence T: Int, heads H: Int, headDim D: Int) {
        let out = UnsafeMutablePointer<Float>.allocate(capacity: B * T * H * D)   // [B, T, C]
        let lse = UnsafeMutablePointer<Float>.allocate(capacity: B * H * T)       // [B, H, T]
        defer { out.deallocate(); lse.deallocate() }
        forward(out: out, lse: lse, qkv: qkv, slopes: ALiBi.slopes(heads: H), batch: B, sequence: T, heads: H, headDim: D)
        backward(dqkv: dqkv, dout: dout, out: out, lse: lse, qkv: qkv, slopes: ALiBi.slopes(heads: H),
                 batch: B, sequence: T, heads: H, headDim: D)
    }
}
