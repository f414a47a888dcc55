import AtelierJob

/// The deterministic order in which samples are consumed: a fresh seeded permutation per epoch.
/// Position p of the run's sample stream is sample `permutation(epoch: p / S)[p % S]`.
public final class SampleOrder: @unchecked Sendable {
    public let sampleCount: Int
    public let seed: UInt64
    private var epoch = -1
    private var permutation: [Int32] = []

    public init(sampleCount: Int, seed: UInt64) {
        self.sampleCount = sampleCount
        self.seed = seed
    }

    /// The sample index at global stream position `position`.
    public func sample(at position: Int) -> Int {
        let e = position / sampleCount
        if e != epoch {
            permutation = Self.permutation(count: sampleCount, seed: seed, epoch: e)
            epoch = e
        }
        return Int(permutation[position % sampleCount])
    }

    /// Fisher-Yates shuffle of 0..<count driven by (seed, epoch).
    static func permutation(count: Int, seed: UInt64, epoch: Int) -> [Int32] {
        var p = (0..<count).map { Int32($0) }
        var rng = SeededRandom(seed: seed, stream: 0xDA7A_0000 &+ UInt64(epoch))
        if count > 1 {
            for i in stride(from: count - 1, to: 0, by: -1) {
                let j = Int(rng.next() % UInt64(i + 1))
                p.swapAt(i, j)
            }
        }
        return p
    }
}

/// Which positions of the sample stream a rank reads: step i covers positions
/// [i*G, (i+1)*G); rank r takes the contiguous share [i*G + r*G/N, i*G + (r+1)*G/N), consumed in
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

    /// Stream positions of micro-batch `micro` of step `iteration` (0-based) on this rank.
    public func positions(iteration: Int, micro: Int) -> Range<Int> {
        let share = globalBatchSize / worldSize
        let start = iteration * globalBatchSize + rank * share + micro * microBatchSize
        return start..<(start + microBatchSize)
    }
}
