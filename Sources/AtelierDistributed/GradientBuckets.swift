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
/// A unit larger than a bucket (BLOOM-560m's tied table is 1 GB) is cut into bucket-sized pieces,
/// and at most `inFlightBuckets` buckets' sums are in flight at once: Open MPI allocates a
/// temporary the size of each message it reduces, so sending the whole table at once cost a
/// second gigabyte per rank. Complete buckets wait in order until earlier ones finish.
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
    private let bucketsOfUnit: [Int: [Int]] // a unit's lowerBound -> the buckets holding part of it
    private let unitsPerBucket: [Int]
    private var unitsLeft: [Int] = []
    private var nextBucket = 0           // buckets[..<nextBucket] are complete (ready to send)
    private var nextIssue = 0            // buckets[..<nextIssue] have been issued
    private var issuedRequests: [Int] = []   // buckets[b]'s requests end at pending[issuedRequests[b]]
    private let maxInFlight: Int         // buckets in flight at once
    private let lookup: EmbeddingRowsSum
    private var exchange: [Request] = []   // the lookup rows' union and counts
    private var lookupDone = false
    private var lookupSumIssued = false   // issued after every bucket, so all ranks issue their collectives in one order
    private var pending: [Request] = []
    private var completed = 0            // pending[..<completed] have completed
    public private(set) var firstError: Error?

    public init(layout: ParameterLayout, grads: FloatBuffer, comm: Communicator, bucketBytes: Int, shards: ParameterShards? = nil) {
        precondition(shards.map { $0.parameters == layout.count && $0.ranks == comm.size } ?? true)
        self.shards = shards
        let plan = Self.plan(units: layout.backwardUnits.filter { !$0.isEmpty }, bucketBytes: bucketBytes)
        buckets = plan.map { $0.range }
        unitsPerBucket = plan.map { $0.units.count }
        var bucketsOfUnit: [Int: [Int]] = [:]
        for (b, bucket) in plan.enumerated() { for unit in bucket.units { bucketsOfUnit[unit.lowerBound, default: []].append(b) } }
        self.bucketsOfUnit = bucketsOfUnit
        maxInFlight = Self.inFlightBuckets
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

    /// Buckets whose sums may be in flight at once.
    public static let inFlightBuckets = 4

    /// The most memory the buckets' sums take besides the gradients: Open MPI's non-blocking
    /// reductions allocate a temporary the size of their message while it is in flight, for at
    /// most `inFlightBuckets` buckets (glibc keeps the freed ones in the heap for the next step,
    /// see `Communicator.world()`).
    public static func inFlightBytes(bucketBytes: Int, gradientBytes: Int) -> Int {
        min(gradientBytes, inFlightBuckets * bucketBytes)
    }

    /// Cuts `units` (in completion order) into buckets: a unit joins the current bucket if it lies
    /// right below it in memory (one contiguous sum) and the bucket is still under `bucketBytes`;
    /// a unit larger than `bucketBytes` becomes pieces of at most that size, from its top down,
    /// each listing the unit it belongs to.
    public static func plan(units: [Range<Int>], bucketBytes: Int) -> [(range: Range<Int>, units: [Range<Int>])] {
        var plan: [(range: Range<Int>, units: [Range<Int>])] = []
        let maxFloats = max(1, bucketBytes / MemoryLayout<Float>.stride)
        for unit in units {
            if unit.count > maxFloats {
                var top = unit.upperBound
                while top > unit.lowerBound {
                    let bottom = max(unit.lowerBound, top - maxFloats)
                    plan.append((bottom..<top, [unit]))
                    top = bottom
                }
            } else if let last = plan.last, last.range.lowerBound == unit.upperBound,
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
        nextIssue = 0
        issuedRequests.removeAll(keepingCapacity: true)
        pending.removeAll(keepingCapacity: true)
        completed = 0
        firstError = nil
        lookupDone = false
        lookupSumIssued = false
        exchange = []
        lookup.begin(tokens: tokens)
        if mode == .overlapped { startExchange() }
    }

    public var takesEmbeddingLookup: Bool { true }

    public func gradientsReady(_ range: Range<Int>) {
        guard let holding = bucketsOfUnit[range.lowerBound] else {
            preconditionFailure("backward reported \(range), which is not one of the layout's backward units")
        }
        for b in holding { unitsLeft[b] -= 1 }
        if mode == .overlapped { issueCompleteBuckets() }
        progress()
    }

    public func embeddingLookup(dout: UnsafePointer<Float>, tokens: UnsafePointer<Int32>, rows: Int, channels: Int) {
        lookup.accumulate(dout: dout, tokens: tokens, count: rows)
        lookupDone = true
        if mode == .overlapped { issueReady() }
    }

    /// Marks the buckets whose units are all final as ready, and issues what the in-flight limit allows.
    private func issueCompleteBuckets() {
        while nextBucket < buckets.count && unitsLeft[nextBucket] == 0 { nextBucket += 1 }
        issueReady()
    }

    /// Buckets issued whose sums have not completed yet.
    private var bucketsInFlight: Int {
        var n = 0
        for b in stride(from: nextIssue - 1, through: 0, by: -1) {
            guard issuedRequests[b] > completed else { break }
            n += 1
        }
        return n
    }

    /// Issues ready buckets, oldest first, while fewer than `maxInFlight` are in flight.
    private func issueReady() {
        while nextIssue < nextBucket && bucketsInFlight < maxInFlight {
            let b = buckets[nextIssue]
            record {
                if let shards {
                    for (owner, part) in shards.owners(of: b) {
                        pending.append(try comm.startReduceSum(grads.base + part.lowerBound, count: part.count, root: owner))
                    }
                } else {
                    pending.append(try comm.startAllReduceSum(grads.base + b.lowerBound, count: b.count))
                }
            }
            issuedRequests.append(pending.count)
            nextIssue += 1
        }
        // The rows' sum goes last, after every bucket: every rank then issues its collectives in the
        // same order, whatever the moment each bucket's turn came on each rank.
        if lookupDone && !lookupSumIssued && nextIssue == buckets.count { issueLookupSum() }
    }

    private func startExchange() {
        record { exchange = try lookup.startExchange(comm) }
    }

    /// Completes the rows' exchange (issued before forward, so long since done) and starts their sum.
    private func issueLookupSum() {
        lookupSumIssued = true
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
            guard done else { break }
            completed += 1
        }
        issueReady()
    }

    /// Waits for every bucket's sum and adds the summed lookup rows into the table; afterwards
    /// every rank holds the same summed gradients (with `shards`: of its own shard).
    public func finish() throws {
        precondition(lookupDone, "backward did not hand over the embedding lookup's gradient")
        switch mode {
        case .overlapped: break
        case .afterBackward:
            startExchange()
            issueCompleteBuckets()
        case .skipped:
            nextBucket = buckets.count
            nextIssue = buckets.count
            issuedRequests = Array(repeating: pending.count, count: buckets.count)
            issueLookupSum()
        }
        precondition(nextBucket == buckets.count, "backward did not report every gradient range")
        // A stall already named its collective: waiting on the others would only stall again, a
        // whole timeout later, under another name.
        if let firstError, !(firstError is MPIError) { throw firstError }
        // The rest, oldest first, issuing the waiting buckets as room frees up.
        while completed < pending.count || nextIssue < buckets.count || !lookupSumIssued {
            if completed < pending.count {
                var oldest = [pending[completed]]
                try comm.waitAll(&oldest, operation: "gradient all-reduce")
                completed += 1
            }
            issueReady()
            if let firstError { throw firstError }
        }
        pending.removeAll(keepingCapacity: true)
        completed = 0
        if let firstError { throw firstError }
        let owned = shards.map { $0.range(of: comm.rank).clamped(to: table) } ?? table
        lookup.addInto(table: grads.base + table.lowerBound, within: (owned.lowerBound - table.lowerBound)..<(owned.upperBound - table.lowerBound))
    }
}
