/// Token embedding lookup; the same table [V, C] is the tied lm_head.
public enum Embedding {
    /// tokens [N] -> out [N, C]
    public static func forward(out: UnsafeMutablePointer<Float>, tokens: UnsafePointer<Int32>,
                               table: UnsafePointer<Float>, rows N: Int, channels C: Int) {
        for n in 0..<N { (out + n * C).update(from: table + Int(tokens[n]) * C, count: C) }
    }

    /// dout [N, C] -> dtable [V, C] (accumulated at each token's row)
    public static func backward(dtable: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
                                tokens: UnsafePointer<Int32>, rows N: Int, channels C: Int) {
        for n in 0..<N { vadd(dtable + Int(tokens[n]) * C, dout + n * C, C) }
    }
}
