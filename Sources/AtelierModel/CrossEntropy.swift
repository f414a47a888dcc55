/// Softmax cross-entropy over the vocabulary, fused with its backward.
public enum CrossEntropy {
    /// Targets equal to this id are padding: no loss, no gradient.
    public static let ignoreIndex: Int32 = -100

    /// logits [N, V], targets [N]. Returns the summed loss over non-ignored rows (nats) and their count.
    /// With `gradientScale`, overwrites the logits with dloss/dlogits = (softmax - onehot) * scale
    /// (use scale = 1 / number of targets in the global batch for a mean loss).
    /// Rows are split over `Parallel`'s threads; each row's loss is kept and the losses are added in
    /// row order, so the loss and the gradient are the same on any thread count.
    public static func forwardBackward(logits: UnsafeMutablePointer<Float>, targets: UnsafePointer<Int32>,
                                       rows N: Int, vocab V: Int, gradientScale: Float?) -> (loss: Double, count: Int) {
        let losses = UnsafeMutablePointer<Double>.allocate(capacity: max(N, 1))   // [N], 0 for ignored rows
        defer { losses.deallocate() }
        Parallel.forEachRange(N, grain: Parallel.rowGrain(floatsPerRow: V)) { rows in
            for n in rows {
                losses[n] = rowForwardBackward(logits + n * V, target: targets[n], vocab: V, gradientScale: gradientScale)
            }
        }
        var total = 0.0
        var count = 0
        for n in 0..<N {
            total += losses[n]
            if counts(targets[n], vocab: V) { count += 1 }
        }
        return (total, count)
    }

    /// Whether a target has a loss: not padding, and inside the vocabulary.
    static func counts(_ target: Int32, vocab V: Int) -> Bool {
        target != ignoreIndex && target >= 0 && Int(target) < V
    }

    /// One row of `forwardBackward`: logits [V] -> its loss (0 when the target does not count), and
    /// with `gradientScale` the row's gradient [V] over the logits.
    @inline(__always) static func rowForwardBackward(_ row: UnsafeMutablePointer<Float>, target: Int32, vocab V: Int,
                                                     gradientScale: Float?) -> Double {
        guard counts(target, vocab: V) else {
            if gradientScale != nil { row.update(repeating: 0, count: V) }
            return 0
        }
        let logitTarget = row[Int(target)]
        let m = vmax(row, V)
        let mv = Vec(repeating: m)
        var acc = Vec()
        let writeGradient = gradientScale != nil
        // a tail's padding lanes hold -inf: exp gives 0
        @_transparent func exponentiate(_ i: Int, _ lanes: Int) {
            let e = vexp(load(row + i, count: lanes, fill: -.infinity) - mv)
            if writeGradient { store(e, row + i, count: lanes) }
            acc += e
        }
        forEachVector(V, exponentiate)
        let sum = acc.sum()
        if let scale = gradientScale {
            // row holds exp(x - m)
            let sv = Vec(repeating: scale / sum)
            @_transparent func normalize(_ i: Int, _ lanes: Int) { store(load(row + i, count: lanes) * sv, row + i, count: lanes) }
            forEachVector(V, normalize)
            row[Int(target)] -= scale
        }
        return Double(log(sum)) + Double(m) - Double(logitTarget)
    }
}

#if canImport(Glibc)
import Glibc
#endif
