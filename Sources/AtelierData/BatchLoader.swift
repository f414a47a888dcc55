/// Fills micro-batches for one rank: inputs and targets, [B, T] Int32 each.
public struct BatchLoader: Sendable {
    public let source: TokenSource
    public let order: SampleOrder
    public let slice: RankSlice
    public let sequenceLength: Int

    public init(source: TokenSource, seed: UInt64, slice: RankSlice, sequenceLength: Int) {
        self.source = source
        self.order = SampleOrder(sampleCount: source.sampleCount, seed: seed)
        self.slice = slice
        self.sequenceLength = sequenceLength
    }

    /// Writes micro-batch `micro` of the step starting at stream position `stepStart` into `inputs`
    /// and `targets` ([B, T] each); throws what the source throws (a token the model cannot take).
    public func load(stepStart: Int, micro: Int, inputs: UnsafeMutablePointer<Int32>, targets: UnsafeMutablePointer<Int32>) throws {
        for (b, position) in slice.positions(stepStart: stepStart, micro: micro).enumerated() {
            try source.fill(sample: order.sample(at: position),
                        inputs: inputs + b * sequenceLength, targets: targets + b * sequenceLength)
        }
    }

    /// Adds to `counts` ([source.componentNames.count]) the samples of each dataset in micro-batch
    /// `micro` of the step starting at `stepStart`: what this rank trains, per language.
    public func countComponents(stepStart: Int, micro: Int, into counts: inout [Int]) {
        guard !counts.isEmpty else { return }
        for position in slice.positions(stepStart: stepStart, micro: micro) {
            counts[source.component(of: order.sample(at: position))] += 1
        }
    }
}
