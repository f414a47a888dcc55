/// Token embedding lookup; the same table [V, C] is the tied lm_head.
public enum Embedding {
    /// tokens [N] -> out [N, C]; rows split over `Parallel`'s threads.
    public static func forward(out: UnsafeMutablePointer<Float>, tokens: UnsafePointer<Int32>,
                               table: UnsafePointer<Float>, rows N: Int, channels C: Int) {
        Parallel.forEachRange(N, grain: Parallel.rowGrain(floatsPerRow: C)) { rows in
            for n in rows { (out + n * C).update(from: table + Int(tokens[n]) * C, count: C) }
        }
    }

    /// dout [N, C] -> dtable [V, C] (accumulated at each token's row). A token may repeat, so the
    /// threads split the channels, not the rows: each part adds its columns of every row, in row
    /// order, and the result is the same on any thread count.
    public static func backward(dtable: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
                                tokens: UnsafePointer<Int32>, rows N: Int, channels C: Int) {
        Parallel.forEachRange(C, grain: max(16, Parallel.rowGrain(floatsPerRow: N)), alignment: 16) { columns in
            for n in 0..<N {
                vadd(dtable + Int(tokens[n]) * C + columns.lowerBound, dout + n * C + columns.lowerBound, columns.count)
            }
        }
    }
}
