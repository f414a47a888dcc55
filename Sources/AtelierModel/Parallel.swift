import BLAS
import Dispatch

/// The rank's threads for the work that does not go through BLAS (element-wise ops, softmax,
/// attention tiles, the loss, AdamW). It uses as many threads as OpenBLAS does
/// (`BLASRuntime.threads`, set from `distributed.blas_threads`), so one rank with 2 BLAS threads
/// runs everything on 2 cores, not just the matmuls.
///
/// Work is cut into contiguous parts whose boundaries depend only on the count and the thread
/// count, never on timing: a kernel whose parts are independent (rows of a LayerNorm) gives the
/// same bits on any number of threads; one that sums partial results across parts differs only
/// by the order of that sum.
public enum Parallel {
    /// Threads the kernels use: OpenBLAS's count.
    public static var threads: Int { BLASRuntime.threads }

    /// Floats of element-wise work below which a part is not worth waking a thread for (a wake-up
    /// costs a few microseconds; this is tens of them of work).
    public static let grainFloats = 32_768

    /// The grain, in rows, of a kernel over rows of `floatsPerRow` floats: tiny inputs stay on
    /// the calling thread.
    public static func rowGrain(floatsPerRow: Int) -> Int { max(1, grainFloats / max(floatsPerRow, 1)) }

    /// The parts `forEachRange` cuts 0..<count into: at most `threads` parts, each at least
    /// `grain` long, boundaries on multiples of `alignment` (16 keeps whole vectors in every part
    /// but the last).
    public static func parts(_ count: Int, grain: Int = 1, alignment: Int = 1, threads: Int = Parallel.threads) -> [Range<Int>] {
        guard count > 0 else { return [] }
        let n = max(1, min(threads, count / max(grain, 1)))
        var out: [Range<Int>] = []
        out.reserveCapacity(n)
        var start = 0
        for p in 0..<n {
            var end = p == n - 1 ? count : count * (p + 1) / n
            if alignment > 1 && end < count { end = min(count, (end + alignment - 1) / alignment * alignment) }
            if end > start { out.append(start..<end) }
            start = max(start, end)
        }
        return out
    }

    /// Calls `body` on each of `parts(count, grain:, alignment:)`, the parts on separate threads,
    /// and returns when all are done. With one part it runs on the calling thread.
    public static func forEachRange(_ count: Int, grain: Int = 1, alignment: Int = 1, _ body: (Range<Int>) -> Void) {
        let ranges = parts(count, grain: grain, alignment: alignment)
        if ranges.count <= 1 {
            if let only = ranges.first { body(only) }
            return
        }
        withoutActuallyEscaping(body) { body in
            // The parts write disjoint memory (the caller's contract), so the closure may cross threads.
            let shared = SharedBody(call: body)
            DispatchQueue.concurrentPerform(iterations: ranges.count) { shared.call(ranges[$0]) }
        }
    }

    /// dst [n] = src [n], in parts over the threads (the residual stream's copies, [N, C]).
    public static func copy(_ dst: UnsafeMutablePointer<Float>, from src: UnsafePointer<Float>, count n: Int) {
        forEachRange(n, grain: grainFloats, alignment: 16) { r in (dst + r.lowerBound).update(from: src + r.lowerBound, count: r.count) }
    }

    /// dst [n] = value, in parts over the threads (gradients and scratch set to zero).
    public static func fill(_ dst: UnsafeMutablePointer<Float>, with value: Float, count n: Int) {
        forEachRange(n, grain: grainFloats, alignment: 16) { r in (dst + r.lowerBound).update(repeating: value, count: r.count) }
    }

    /// Calls `body(i)` for every i in 0..<count, spread over the threads in contiguous runs
    /// (for independent items of similar cost: attention heads, chunks of rows).
    public static func forEach(_ count: Int, _ body: (Int) -> Void) {
        forEachRange(count) { range in for i in range { body(i) } }
    }
}

/// A kernel's body handed to the worker threads; its parts touch disjoint memory.
private struct SharedBody: @unchecked Sendable {
    let call: (Range<Int>) -> Void
}
