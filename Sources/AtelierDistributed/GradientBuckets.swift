import AtelierModel
import MPI

/// Data-parallel gradient averaging in buckets, overlapped with backward (as PyTorch DDP and
/// Horovod do). The flat gradient buffer is cut into contiguous buckets of about `bucketBytes`,
/// at the boundaries of the units backward finishes (`ParameterLayout.backwardUnits`: the tied
/// table's lm_head part, ln_f, each block's operations from the last block down, the embedding
/// LayerNorm). A bucket's non-blocking all-reduce (MPI_Iallreduce) is issued as soon as its last
/// unit is final, and `progress()` between operations lets MPI move it along. The embedding
/// lookup's share of the table is summed separately over sparse rows (`EmbeddingRowsSum`), so
/// only a small sum is left for the end of backward.
///
/// Gradients arrive already divided by the global number of target tokens, so the sum over ranks
/// is the global mean gradient.
///
/// With `shards` (ZeRO stage 1) a bucket is summed only onto the ranks that own it: one
/// MPI_Ireduce per owner, of the bucket's part in that owner's shard (`ParameterShards.owners`),
/// issued at the same moment the all-reduce would be. Each rank then holds the summed gradients
/// of its own shard only (the rest of its buffer keeps its local gradients), which is all its
/// optimizer reads. Each rank sends about (N-1)/N of the gradients and receives as much, half of
/// what an all-reduce moves; the parameters' all-gather after the update moves the other half.
public final class GradientBuckets: GradientObserver {
    /// When the buckets' all-reduces are issued.
    public enum Mode: String, Sendable, CaseIterable {
        case overlapped        // as soon as each bucket is complete, during backward
        case afterBackward     // all of them after backward (the same buckets, nothing hidden)
        case skipped           // never: compute only, for benchmarks (ranks' weights then drift apart)
    }

    public let buckets: [Range<Int>]     // flat offsets, in the order they complete
    public var mode: Mode = .overlapped
    let comm: Communicator
    let grads: FloatBuffer
    let table: Range<Int>                // the tied embedding table [V, C]
    public let shards: ParameterShards?  // ZeRO stage 1: reduce each bucket to its owners
    private let bucketOfUnit: [Int: Int] // a unit's lowerBound -> its bucket
    private let unitsPerBucket: [Int]
    private var unitsLeft: [Int] = []
    private var nextBucket = 0
    private let lookup: EmbeddingRowsSum
    private var exchange: [Request] = []   // the lookup rows' union and counts
    private var lookupDone = false
    private var pending: [Request] = []
    private var completed = 0            // pending[..<completed] have completed
    public private(set) var firstError: Error?

    public init(layout: ParameterLayout, grads: FloatBuffer, comm: Communicator, bucketBytes: Int, shards: ParameterShards? = nil) {
        precondition(shards.map { $0.parameters == layout.count && $0.ranks == comm.size } ?? true)
        self.shards = shards
        let plan = Self.plan(units: layout.backwardUnits.filter { !$0.isEmpty }, bucketBytes: bucketBytes)
        buckets = plan.map { $0.range }
        unitsPerBucket = plan.map { $0.units.count }
        var bucketOfUnit: [Int: Int] = [:]
        for (b, bucket) in plan.enumerated() { for unit in bucket.units { bucketOfUnit[unit.lowerBound] = b } }
        self.bucketOfUnit = bucketOfUnit
        self.comm = comm
        self.grads = grads
        table = layout.embeddingTableRange
        lookup = EmbeddingRowsSum(vocab: layout.shape.vocabSize, channels: layout.shape.hiddenSize, ranks: comm.size)
    }

    /// The bucket size when the job does not set one: 1/16 of the gradients, between 0.5 and 25 MiB.
    /// PyTorch DDP's fixed 25 MiB suits models of gigabytes; a small model would get one or two
    /// buckets and nothing to overlap (the quickstart's 13.8 MB: 9-13% of communication hidden at
    /// 25 MiB, 71-80% at 0.5-1 MiB, docs/benchmarks.md). Sixteen buckets leave only the last
    /// sixteenth or less to send after backward, and each is still large enough for the link.
    public static func automaticBucketBytes(gradientBytes: Int) -> Int {
        min(25 << 20, max(1 << 19, gradientBytes / 16))
    }

    /// The most memory the buckets' all-reduces take besides the gradients: Open MPI's non-blocking
    /// all-reduce allocates a temporary the size of its bucket while it is in flight, and with
    /// overlap every bucket may be in flight at once (glibc keeps the freed ones in the heap for the
    /// next step, see `Communicator.world()`).
    public static func inFlightBytes(gradientBytes: Int) -> Int { gradientBytes }

    /// Cuts `units` (in completion order) into buckets: a unit joins the current bucket if it lies
    /// right below it in memory (one contiguous all-reduce) and the bucket is still under `bucketBytes`.
    public static func plan(units: [Range<Int>], bucketBytes: Int) -> [(range: Range<Int>, units: [Range<Int>])] {
        var plan: [(range: Range<Int>, units: [Range<Int>])] = []
        for unit in units {
            if let last = plan.last, last.range.lowerBound == unit.upperBound,
               last.range.count * MemoryLayout<Float>.stride < bucketBytes {
                plan[plan.count - 1] = (unit.lowerBound..<last.range.upperBound, last.units + [unit])
            } else {
                plan.append((unit, [unit]))
            }
        }
        return plan
    }

    /// Arms the buckets for one backward pass: the last micro-batch of a step, whose tokens
    /// [B*T] are given (the embedding rows whose lookup gradient will be summed).
    public func begin(tokens: [Int32]) {
        unitsLeft = unitsPerBucket
        nextBucket = 0
        pending.removeAll(keepingCapacity: true)
        completed = 0
        firstError = nil
        lookupDone = false
        exchange = []
        lookup.begin(tokens: tokens)
        if mode == .overlapped { startExchange() }
    }

    public var takesEmbeddingLookup: Bool { true }

    public func gradientsReady(_ range: Range<Int>) {
        guard let b = bucketOfUnit[range.lowerBound] else {
            preconditionFailure("backward reported \(range), which is not one of the layout's backward units")
        }
        unitsLeft[b] -= 1
        if mode == .overlapped { issueCompleteBuckets() }
        progress()
    }

    public func embeddingLookup(dout: UnsafePointer<Float>, tokens: UnsafePointer<Int32>, rows: Int, channels: Int) {
        lookup.accumulate(dout: dout, tokens: tokens, count: rows)
        lookupDone = true
        if mode == .overlapped { issueLookupSum() }
    }

    private func issueCompleteBuckets() {
        while nextBucket < buckets.count && unitsLeft[nextBucket] == 0 {
            let b = buckets[nextBucket]
            record {
                if let shards {
                    for (owner, part) in shards.owners(of: b) {
                        pending.append(try comm.startReduceSum(grads.base + part.lowerBound, count: part.count, root: owner))
                    }
                } else {
                    pending.append(try comm.startAllReduceSum(grads.base + b.lowerBound, count: b.count))
                }
            }
            nextBucket += 1
        }
    }

    private func startExchange() {
        record { exchange = try lookup.startExchange(comm) }
    }

    /// Completes the rows' exchange (issued before forward, so long since done) and starts their sum.
    private func issueLookupSum() {
        record {
            if !exchange.isEmpty { try comm.waitAll(&exchange, operation: "embedding rows (union and counts)") }
            pending += try lookup.startSum(mode == .skipped ? nil : comm)
        }
    }

    /// Keeps the first error of a call made from inside backward (which cannot throw), for
    /// `finish` to throw: an MPI failure, or a `CollectiveStall` naming the collective that stalled.
    private func record(_ body: () throws -> Void) {
        do { try body() } catch { firstError = firstError ?? error }
    }

    /// One MPI_Test runs OpenMPI's whole progress engine (every pending request moves), so only
    /// the oldest incomplete request is tested, and the next ones only as earlier ones complete.
    public func progress() {
        while completed < pending.count {
            var done = false
            record { done = try pending[completed].test() }
            guard done else { return }
            completed += 1
        }
    }

    /// Waits for every bucket's sum and adds the summed lookup rows into the table; afterwards
    /// every rank holds the same summed gradients (with `shards`: of its own shard).
    public func finish() throws {
        precondition(lookupDone, "backward did not hand over the embedding lookup's gradient")
        switch mode {
        case .overlapped: break
        case .afterBackward:
            issueCompleteBuckets()
            startExchange()
            issueLookupSum()
        case .skipped:
            nextBucket = buckets.count
            issueLookupSum()
        }
        precondition(nextBucket == buckets.count, "backward did not report every gradient range")
        // A stall already named its collective: waiting on the others would only stall again, a
        // whole timeout later, under another name.
        if let firstError, !(firstError is MPIError) { throw firstError }
        try comm.waitAll(&pending, operation: "gradient all-reduce")
        if let firstError { throw firstError }
        let owned = shards.map { $0.range(of: comm.rank).clamped(to: table) } ?? table
        lookup.addInto(table: grads.base + table.lowerBound, within: (owned.lowerBound - table.lowerBound)..<(owned.upperBound - table.lowerBound))
    }
}
