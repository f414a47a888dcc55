import AtelierCore
import AtelierJob
import AtelierModel
import MPI
#if canImport(Glibc)
import Glibc
#endif

/// The embedding lookup's share of the tied table's gradient, summed over ranks as sparse rows.
///
/// The table [V, C] is both the input embedding and lm_head. lm_head's gradient is dense and
/// computed first in backward; the lookup's is computed last and touches only the rows of this
/// micro-batch's tokens. Summing the table's gradient in one piece would leave all of it (the
/// largest tensor: 23% of the quickstart's gradients, 20% of BLOOM-176B's) to be sent after
/// backward. Instead the table's lm_head part is all-reduced as soon as it is final, and the
/// lookup part here, over only the rows some rank touched:
///
/// 1. `begin(tokens:)`, before forward: this rank's distinct rows, as a list and a bitmap
///    [ceil(V/64)] words. `startExchange` ORs the bitmaps (the union of rows) and gathers each
///    rank's row count; both complete during forward and backward.
/// 2. `accumulate`: the lookup's gradient dout [N, C] summed per distinct local row [n, C].
/// 3. `startSum`, whichever sends fewer bytes (every rank decides alike, from the same counts):
///    - gather, when the ranks' row counts add up to less than twice the union: every rank's
///      rows and their ids are all-gathered (each rank receives the others' rows once);
///    - union: the local rows laid out over the union's rows [U, C] (ascending, zeros where
///      this rank has none), then one sum all-reduce (each rank sends 2(N-1)/N x U rows).
/// 4. `addInto(table:)`, once every request has completed: table[row] += the rows, in rank order.
///
/// Neither sends more than the dense table would. Every rank adds the same rows in the same
/// order, so all ranks keep identical gradients.
public final class EmbeddingRowsSum {
    public enum Strategy: Sendable { case gather, union }

    public let vocab: Int
    public let channels: Int
    public let ranks: Int
    private let words: Int
    // Everything a non-blocking MPI call reads or writes lives in a Pinned buffer: its address
    // stays put until the request completes.
    private let bitmap: Pinned<UInt64>                  // [words]: this rank's rows, then every rank's
    private var slot: [Int32]                           // [V]: row -> index in localRows, or -1
    private let localRows = Pinned<Int32>()             // distinct rows of this rank's tokens, first-seen order
    private let local = Pinned<Float>()                 // [localRows, C]
    private let counts: Pinned<Int64>                   // [1 + ranks]: mine, then every rank's
    private let layout: Pinned<Int32>                   // [4 x ranks]: gather counts and offsets, in rows then floats
    public private(set) var strategy = Strategy.union
    public private(set) var unionRows: [Int32] = []            // ascending
    private let received = Pinned<Float>()              // union: [U, C]; gather: [sum of counts, C]
    private let receivedIds = Pinned<Int32>()           // gather: the rows of `received`, rank by rank

    public init(vocab: Int, channels: Int, ranks: Int) {
        self.vocab = vocab
        self.channels = channels
        self.ranks = ranks
        words = (vocab + 63) / 64
        bitmap = Pinned(count: words)
        slot = [Int32](repeating: -1, count: vocab)
        counts = Pinned(count: 1 + ranks)
        layout = Pinned(count: 4 * ranks)
    }

    /// The most bytes an instance holds for micro-batches of `rows` tokens over `ranks` ranks, with
    /// n = min(N, V) distinct local rows and a union of U = min(V, ranks x n) rows: slot [V] Int32,
    /// bitmap [ceil(V/64)] UInt64, the local rows [n, C] fp32 and their ids [N], the union's ids [U],
    /// and the received rows: [U, C] for a union sum, fewer than [2U, C] (and at most
    /// [ranks x n, C]) for a gather, which is chosen only below 2U, with their ids. (A `Pinned` buffer
    /// that grows step by step may keep up to twice its largest request.)
    public static func maximumBytes(vocab V: Int, channels C: Int, ranks R: Int, rows N: Int) -> Int? {
        guard let (n, union, received) = rowBounds(vocab: V, ranks: R, rows: N) else { return nil }
        return checkedSum([checkedProduct(V, 4), checkedProduct((V + 63) / 64, 8),
                           checkedProduct(n + received, C, 4), checkedProduct(N + union + received, 4),
                           checkedProduct(1 + R, 8), checkedProduct(4 * R, 4)])
    }

    /// The most floats one MPI call of the sum moves (the union's all-reduce or the gather's
    /// received rows); MPI counts them in an Int32.
    public static func largestMessageFloats(vocab V: Int, channels C: Int, ranks R: Int, rows N: Int) -> Int? {
        rowBounds(vocab: V, ranks: R, rows: N).flatMap { checkedProduct($0.received, C) }
    }

    /// Local distinct rows n = min(N, V), union rows U = min(V, ranks x n), and the most rows
    /// received: U for a union sum, fewer than 2U (and at most ranks x n) for a gather.
    private static func rowBounds(vocab V: Int, ranks R: Int, rows N: Int) -> (local: Int, union: Int, received: Int)? {
        let n = min(N, V)
        guard let spread = checkedProduct(R, n) else { return nil }
        let union = min(V, spread)
        return (n, union, min(2 * union, spread))
    }

    /// Rows of [C] floats the sum moves this step (after `startSum`).
    public var rowsMoved: Int { strategy == .gather ? receivedIds.count : unionRows.count }

    /// Marks this rank's rows for the micro-batch whose lookup will be summed; tokens are ids < V.
    public func begin(tokens: [Int32]) {
        for i in 0..<localRows.count { slot[Int(localRows.base[i])] = -1 }
        localRows.resize(tokens.count)
        bitmap.resize(words)
        var n = 0
        for t in tokens where slot[Int(t)] < 0 {
            slot[Int(t)] = Int32(n)
            localRows.base[n] = t
            n += 1
            bitmap.base[Int(t) >> 6] |= 1 << UInt64(Int(t) & 63)
        }
        localRows.count = n
        local.resize(n * channels)
        counts.resize(1 + ranks)
        counts.base[0] = Int64(n)
    }

    /// Starts the union of every rank's rows (in place in the bitmap) and the gather of row counts.
    public func startExchange(_ comm: Communicator) throws -> [Request] {
        [try comm.startAllReduceBitOr(bitmap.base, count: words),
         try comm.startAllGather(counts.base, count: 1, into: counts.base + 1)]
    }

    /// dout [N, C], row n belonging to table row tokens[n]: summed per distinct row.
    public func accumulate(dout: UnsafePointer<Float>, tokens: UnsafePointer<Int32>, count n: Int) {
        for i in 0..<n {
            let s = Int(slot[Int(tokens[i])])
            precondition(s >= 0, "embedding lookup of a token that begin(tokens:) did not see")
            vadd(local.base + s * channels, dout + i * channels, channels)
        }
    }

    /// Starts the rows' sum, once the exchange has completed; with `comm` nil (compute-only
    /// benchmarks) nothing is sent and the rows are this rank's own.
    public func startSum(_ comm: Communicator?) throws -> [Request] {
        unionRows.removeAll(keepingCapacity: true)
        for w in 0..<words {
            var bits = bitmap.base[w]
            while bits != 0 {
                unionRows.append(Int32(w * 64 + bits.trailingZeroBitCount))
                bits &= bits - 1
            }
        }
        guard let comm else { strategy = .union; return try startUnionSum(nil) }
        let total = (0..<comm.size).reduce(Int64(0)) { $0 + counts.base[1 + $1] }
        strategy = total < 2 * Int64(unionRows.count) ? .gather : .union
        return strategy == .gather ? try startGather(comm, total: Int(total)) : try startUnionSum(comm)
    }

    private func startGather(_ comm: Communicator, total: Int) throws -> [Request] {
        received.resize(total * channels)
        receivedIds.resize(total)
        let p = comm.size, rowCounts = layout.base, rowOffsets = layout.base + p
        let floatCounts = layout.base + 2 * p, floatOffsets = layout.base + 3 * p
        var offset: Int32 = 0
        for r in 0..<p {
            rowCounts[r] = Int32(counts.base[1 + r])
            rowOffsets[r] = offset
            floatCounts[r] = rowCounts[r] * Int32(channels)
            floatOffsets[r] = offset * Int32(channels)
            offset += rowCounts[r]
        }
        return [try comm.startAllGather(localRows.base, count: localRows.count, into: receivedIds.base,
                                        counts: rowCounts, offsets: rowOffsets),
                try comm.startAllGather(local.base, count: local.count, into: received.base,
                                        counts: floatCounts, offsets: floatOffsets)]
    }

    private func startUnionSum(_ comm: Communicator?) throws -> [Request] {
        received.resize(unionRows.count * channels)
        for (u, row) in unionRows.enumerated() {
            let s = Int(slot[Int(row)])
            if s >= 0 { (received.base + u * channels).update(from: local.base + s * channels, count: channels) }
        }
        guard let comm, !unionRows.isEmpty else { return [] }
        return [try comm.startAllReduceSum(received.base, count: received.count)]
    }

    /// table [V, C] += the summed rows, for the table's elements in `within` (flat offsets into
    /// the table; all of them by default, a ZeRO shard's part otherwise); call once the sum has completed.
    public func addInto(table: UnsafeMutablePointer<Float>, within: Range<Int>? = nil) {
        let within = within ?? 0..<(vocab * channels)
        func add(_ row: Int32, _ sum: UnsafePointer<Float>) {
            let start = Int(row) * channels
            let part = (start..<(start + channels)).clamped(to: within)
            if !part.isEmpty { vadd(table + part.lowerBound, sum + (part.lowerBound - start), part.count) }
        }
        switch strategy {
        case .gather:
            for k in 0..<receivedIds.count { add(receivedIds.base[k], received.base + k * channels) }
        case .union:
            for (u, row) in unionRows.enumerated() { add(row, received.base + u * channels) }
        }
    }
}

/// A growable buffer whose address stays put between resizes, zeroed by `resize`.
final class Pinned<T: BitwiseCopyable> {
    private(set) var base: UnsafeMutablePointer<T>
    var count: Int
    private var capacity: Int

    init(count: Int = 0) {
        capacity = max(1, count)
        base = .allocate(capacity: capacity)
        self.count = 0
        resize(count)
    }

    deinit { base.deallocate() }

    /// count elements, all bits zero (the old contents are not kept).
    func resize(_ count: Int) {
        if count > capacity {
            base.deallocate()
            capacity = max(count, capacity * 2)
            base = .allocate(capacity: capacity)
        }
        self.count = count
        UnsafeMutableRawPointer(base).initializeMemory(as: UInt8.self, repeating: 0, count: max(count, 0) * MemoryLayout<T>.stride)
    }
}
