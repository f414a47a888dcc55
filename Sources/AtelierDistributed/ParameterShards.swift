/// The flat parameter range [0, P) cut into one contiguous shard per rank, for ZeRO stage 1: rank r
/// owns the Adam moments of shard r, receives the summed gradients of it, updates it and sends it
/// to the others. The boundaries are a function of P and N only (every rank, every run and every
/// checkpoint tool computes the same ones): shard r is [r x S, (r + 1) x S) clipped to P, with
/// S = ceil(P / N) rounded up to 16 floats, so every shard but the last starts and ends on a whole
/// vector. The last shards may be shorter, or empty when P < (N - 1) x S.
public struct ParameterShards: Equatable, Sendable {
    public let parameters: Int   // P
    public let ranks: Int        // N
    public let stride: Int       // S, floats, a multiple of 16

    public static let alignment = 16

    public init(parameters: Int, ranks: Int) {
        precondition(parameters >= 0 && ranks >= 1)
        self.parameters = parameters
        self.ranks = ranks
        let even = (parameters + ranks - 1) / ranks
        stride = (even + Self.alignment - 1) / Self.alignment * Self.alignment
    }

    /// Rank r's shard, flat offsets.
    public func range(of rank: Int) -> Range<Int> {
        min(parameters, rank * stride) ..< min(parameters, (rank + 1) * stride)
    }

    /// The most floats a shard holds (what every rank allocates for its moments at most).
    public var largest: Int { range(of: 0).count }

    /// How many floats of `range` each rank owns, in rank order (they add up to range.count): the
    /// counts of a reduce-scatter of `range`, or the ranks a bucket is reduced to (nonzero counts).
    public func counts(of range: Range<Int>) -> [Int] {
        (0..<ranks).map { r in range.clamped(to: self.range(of: r)).count }
    }

    /// The ranks whose shards `range` overlaps, each with the part it owns, in rank order.
    public func owners(of range: Range<Int>) -> [(rank: Int, part: Range<Int>)] {
        guard !range.isEmpty else { return [] }
        let first = min(ranks - 1, range.lowerBound / max(stride, 1))
        let last = min(ranks - 1, (range.upperBound - 1) / max(stride, 1))
        return (first...last).compactMap { r in
            let part = range.clamped(to: self.range(of: r))
            return part.isEmpty ? nil : (r, part)
        }
    }
}
