/// ALiBi (Press et al.), as Hugging Face's `build_alibi_tensor` computes it for BLOOM: head h adds
/// slope_h * s to the score of key position s. (Softmax is shift-invariant per row, so this equals
/// the paper's slope * (s - t).)
public enum ALiBi {
    /// One slope per head, for any head count: geometric in 2^(-8/n) for the largest power of two
    /// n <= heads, then every other slope of the 2n sequence for the remaining heads.
    public static func slopes(heads: Int) -> [Float] {
        precondition(heads > 0)
        var closest = 1
        while closest * 2 <= heads { closest *= 2 }
        func base(_ n: Int) -> Double { Double.pow2(-Double.pow2(-(Double.log2i(n) - 3))) }
        let b = base(closest)
        var result = (1...closest).map { Float(Double.powi(b, $0)) }
        if closest != heads {
            let extra = base(2 * closest)
            let remaining = min(closest, heads - closest)
            result += stride(from: 1, to: 1 + 2 * remaining, by: 2).map { Float(Double.powi(extra, $0)) }
        }
        return result
    }
}

extension Double {
    static func pow2(_ x: Double) -> Double { _exp2(x) }
    static func log2i(_ n: Int) -> Double { Double(Int.bitWidth - 1 - n.leadingZeroBitCount) }
    static func powi(_ b: Double, _ e: Int) -> Double {
        var r = 1.0
        for _ in 0..<e { r *= b }
        return r
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) func _exp2(_ x: Double) -> Double { Glibc.exp2(x) }
#else
import Foundation
@inline(__always) func _exp2(_ x: Double) -> Double { Foundation.exp2(x) }
#endif
