import AtelierJob

/// The deterministic order in which samples are consumed: a fresh seeded permutation of the
/// samples per epoch. Stream position p is sample `permute(p mod S)` under epoch p / S's key.
///
/// The permutation is a keyed Feistel network on the smallest even number of bits covering S, with
/// cycle-walking back into [0, S): a bijection computed on demand, so it needs no memory however
/// large the dataset (Megatron stores a shuffle index per dataset instead).
public struct SampleOrder: Sendable {
    public let sampleCount: Int
    public let seed: UInt64
    let halfBits: Int

    public init(sampleCount: Int, seed: UInt64) {
        precondition(sampleCount > 0)
        self.sampleCount = sampleCount
        self.seed = seed
        var bits = 2
        while (1 << bits) < sampleCount { bits += 1 }
        halfBits = (bits + 1) / 2
    }

    /// The sample index at global stream position `position` (>= 0).
    public func sample(at position: Int) -> Int {
        let epoch = UInt64(position / sampleCount)
        var x = UInt64(position % sampleCount)
        repeat { x = feistel(x, epoch: epoch) } while x >= UInt64(sampleCount)
        return Int(x)
    }

    private func feistel(_ value: UInt64, epoch: UInt64) -> UInt64 {
        let mask: UInt64 = (1 << UInt64(halfBits)) - 1
        var left = value >> UInt64(halfBits), right = value & mask
        for round in 0..<4 as Range<UInt64> {
            let f = mix(right ^ (seed &* 0x9E37_79B9_7F4A_7C15) ^ (epoch << 20) ^ (round << 56)) & mask
            (left, right) = (right, left ^ f)
        }
        return (left << UInt64(halfBits)) | right
    }

    private func mix(_ v: UInt64) -> UInt64 {
        var z = v &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Which positions of the sample stream a rank reads: a step starting at stream position s (the
/// samples consumed so far, the data cursor a checkpoint stores) covers [s, s+G); rank r takes the
/// contiguous share [s + r*G/N, s + (r+1)*G/N), consumed in
/// micro-batches of b. The shares are disjoint and together cover the global batch, so N ranks with
/// micro-batch b see exactly the samples one rank sees with N*b per step.
public struct RankSlice: Sendable {
    public let rank: Int
    public let worldSize: Int
    public let globalBatchSize: Int
    public let microBatchSize: Int

    public init(rank: Int, worldSize: Int, globalBatchSize: Int, microBatchSize: Int) {
        self.rank = rank
        self.worldSize = worldSize
        self.globalBatchSize = globalBatchSize
        self.microBatchSize = microBatchSize
    }

    /// Stream positions of micro-batch `micro` of the step that starts at stream position `stepStart`.
    public func positions(stepStart: Int, micro: Int) -> Range<Int> {
        let share = globalBatchSize / worldSize
        let start = stepStart + rank * share + micro * microBatchSize
        return start..<(start + microBatchSize)
    }
}
