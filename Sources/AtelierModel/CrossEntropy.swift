/// Softmax cross-entropy over the vocabulary, fused with its backward.
public enum CrossEntropy {
    /// Targets equal to this id are padding: no loss, no gradient.
    public static let ignoreIndex: Int32 = -100

    /// logits [N, V], targets [N]. Returns the summed loss over non-ignored rows (nats) and their count.
    /// With `gradientScale`, overwrites the logits with dloss/dlogits = (softmax - onehot) * scale
    /// (use scale = 1 / number of targets in the global batch for a mean loss).
    public static func forwardBackward(logits: UnsafeMutablePointer<Float>, targets: UnsafePointer<Int32>,
                                       rows N: Int, vocab V: Int, gradientScale: Float?) -> (loss: Double, count: Int) {
        var total = 0.0
        var count = 0
        for n in 0..<N {
            let row = logits + n * V
            let target = targets[n]
            if target == ignoreIndex || target < 0 || Int(target) >= V {
                if gradientScale != nil { row.update(repeating: 0, count: V) }
                continue
            }
            let logitTarget = row[Int(target)]
            let m = vmax(row, V)
            let mv = Vec(repeating: m)
            var acc = Vec()
            var i = 0
            let writeGradient = gradientScale != nil
            while i + 16 <= V {
                let e = vexp(load(row + i) - mv)
                if writeGradient { store(e, row + i) }
                acc += e; i += 16
            }
            var sum = acc.sum()
            while i < V { let e = sexp(row[i] - m); if writeGradient { row[i] = e }; sum += e; i += 1 }
            total += Double(log(sum)) + Double(m) - Double(logitTarget)
            if let scale = gradientScale {
                // row holds exp(x - m)
                let sv = Vec(repeating: scale / sum)
                i = 0
                while i + 16 <= V { store(load(row + i) * sv, row + i); i += 16 }
                while i < V { row[i] *= scale / sum; i += 1 }
                row[Int(target)] -= scale
            }
            count += 1
        }
        return (total, count)
    }
}

#if canImport(Glibc)
import Glibc
#endif
