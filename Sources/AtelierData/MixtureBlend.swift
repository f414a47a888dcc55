/// Which dataset each sample of an epoch comes from, in fixed proportions (Megatron's blending):
/// sample i goes to the dataset furthest behind its share, argmax_d w_d (i + 1) - n_d (the first
/// such d on ties), and is that dataset's n_d-th sample.
///
/// Computed on demand rather than stored per sample (that would be 5 bytes per window: 200 MB for
/// 10 GB of tokens): the counts n_d are kept every `interval` samples, and a lookup replays the
/// rule from the nearest kept point, at most `interval` steps. Replaying does the same floating-
/// point operations in the same order, so it gives exactly the assignment of one pass.
public struct MixtureBlend: Sendable {
    public let weights: [Double]   // shares, summing to 1
    public let sampleCount: Int
    static let interval = 1024
    let kept: [Int]                // [sampleCount / interval + 1, datasets]: the counts before sample k * interval

    public init(weights: [Double], sampleCount: Int) {
        self.weights = weights
        self.sampleCount = sampleCount
        let d = weights.count
        var kept: [Int] = []
        kept.reserveCapacity((sampleCount / Self.interval + 1) * d)
        var counts = [Int](repeating: 0, count: d)
        for i in 0..<(d > 1 ? sampleCount : 0) {   // one dataset: sample i is its i-th
            if i % Self.interval == 0 { kept += counts }
            counts[Self.pick(weights, counts, sample: i)] += 1
        }
        self.kept = kept
    }

    /// The dataset of sample `index` and its rank among that dataset's samples.
    public func source(of index: Int) -> (dataset: Int, occurrence: Int) {
        let d = weights.count
        if d == 1 { return (0, index) }
        let start = index / Self.interval
        var counts = Array(kept[(start * d)..<((start + 1) * d)])
        for i in (start * Self.interval)..<index { counts[Self.pick(weights, counts, sample: i)] += 1 }
        let best = Self.pick(weights, counts, sample: index)
        return (best, counts[best])
    }

    /// The dataset furthest behind its share at sample `i`, given each one's count so far.
    static func pick(_ weights: [Double], _ counts: [Int], sample i: Int) -> Int {
        var best = 0, bestError = -Double.infinity
        for d in 0..<weights.count {
            let error = weights[d] * Double(i + 1) - Double(counts[d])
            if error > bestError { bestError = error; best = d }
        }
        return best
    }
}
