import AtelierModel
import MPI

/// Data-parallel gradient averaging in buckets, overlapped with backward (as PyTorch DDP and
/// Horovod do). The flat gradient buffer is cut into contiguous buckets of about `bucketBytes`,
/// aligned to the units backward finishes (ln_f, each block, the embeddings). Backward finishes
/// gradients from the end of the buffer towards the start, so a bucket is complete as soon as
/// the lowest offset finished reaches its start; its non-blocking all-reduce (MPI_Iallreduce) is
/// issued right then, and `progress()` between blocks lets MPI move it along.
///
/// Gradients arrive already divided by the global number of target tokens, so the sum over ranks
/// is the global mean gradient.
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
    private var readyFrom: Int
    private var nextBucket = 0
    private var pending: [Request] = []
    public private(set) var firstError: MPIError?

    public init(layout: ParameterLayout, grads: FloatBuffer, comm: Communicator, bucketBytes: Int) {
        // Units in completion order: ln_f, block L-1, ..., block 0, embeddings.
        var units = [layout.finalNormRange] + layout.blocks.reversed().map(\.range) + [layout.embeddingRange]
        units = units.filter { !$0.isEmpty }
        var buckets: [Range<Int>] = []
        var current: Range<Int>?
        for unit in units {
            let merged = current.map { unit.lowerBound..<$0.upperBound } ?? unit
            current = merged
            if merged.count * MemoryLayout<Float>.stride >= bucketBytes {
                buckets.append(merged)
                current = nil
            }
        }
        if let current { buckets.append(current) }
        self.buckets = buckets
        self.comm = comm
        self.grads = grads
        self.readyFrom = grads.count
    }

    /// Arms the buckets for one backward pass (the last micro-batch of a step).
    public func begin() {
        readyFrom = grads.count
        nextBucket = 0
        pending.removeAll(keepingCapacity: true)
        firstError = nil
    }

    public func gradientsReady(_ range: Range<Int>) {
        readyFrom = min(readyFrom, range.lowerBound)
        if mode == .overlapped { issueCompleteBuckets() }
    }

    private func issueCompleteBuckets() {
        while nextBucket < buckets.count && buckets[nextBucket].lowerBound >= readyFrom {
            let b = buckets[nextBucket]
            do {
                pending.append(try comm.startAllReduceSum(grads.base + b.lowerBound, count: b.count))
            } catch let error as MPIError {
                firstError = firstError ?? error
            } catch {}
            nextBucket += 1
        }
    }

    public func progress() {
        for i in pending.indices {
            do { _ = try pending[i].test() } catch let error as MPIError { firstError = firstError ?? error } catch {}
        }
    }

    /// Waits for every bucket's all-reduce; afterwards every rank holds the same summed gradients.
    public func finish() throws {
        switch mode {
        case .overlapped: break
        case .afterBackward: issueCompleteBuckets()
        case .skipped: nextBucket = buckets.count
        }
        precondition(nextBucket == buckets.count, "backward did not report every gradient range")
        try comm.waitAll(&pending, operation: "gradient all-reduce")
        if let firstError { throw firstError }
    }
}
