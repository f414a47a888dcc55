import AtelierCheckpoint
import AtelierDistributed
import AtelierModel
import Foundation
import MPI

/// ZeRO stage 1's checkpoint traffic: no rank holds all of the Adam moments, so a save gathers
/// them onto rank 0 and a load sends each rank its shard, window by window (`MomentWindows`, 16 MiB
/// of m and of v each). Rank 0 writes the parameters from its own copy (every rank holds them all)
/// and each window of moments as it arrives; the file is the same as an unsharded save's. No rank
/// holds more than its shard plus one window of m and v.
enum ShardedMoments {
    /// Each rank's part of `window`: counts [ranks] then offsets into the window [ranks].
    static func parts(of window: Range<Int>, _ shards: ParameterShards) -> [Int32] {
        let counts = shards.counts(of: window)
        var offsets: [Int32] = [], at = 0
        for c in counts { offsets.append(Int32(at)); at += c }
        return counts.map(Int32.init) + offsets
    }

    /// This rank's part of `window` in its moment buffers: (offset into the shard, count).
    static func mine(_ window: Range<Int>, _ optimizer: AdamW) -> (offset: Int, count: Int) {
        let part = window.clamped(to: optimizer.shard)
        return (part.isEmpty ? 0 : part.lowerBound - optimizer.shard.lowerBound, part.count)
    }

    /// Collective: m and v of `window` onto rank 0, into `expAvg` and `expAvgSq` (rank 0 only).
    static func gather(_ window: Range<Int>, optimizer: AdamW, shards: ParameterShards, comm: Communicator,
                       into expAvg: UnsafeMutablePointer<Float>?, _ expAvgSq: UnsafeMutablePointer<Float>?) throws {
        let layout = parts(of: window, shards), (offset, count) = mine(window, optimizer)
        try layout.withUnsafeBufferPointer { l in
            let counts = l.baseAddress!, offsets = l.baseAddress! + shards.ranks
            var requests = [
                try comm.startGather(optimizer.expAvg.base + offset, count: count, into: expAvg, counts: counts, offsets: offsets, root: 0),
                try comm.startGather(optimizer.expAvgSq.base + offset, count: count, into: expAvgSq, counts: counts, offsets: offsets, root: 0),
            ]
            try comm.waitAll(&requests, operation: "checkpoint moments gather")
        }
    }

    /// Collective: m and v of `window` from rank 0's `expAvg` and `expAvgSq` to the ranks that own them.
    static func scatter(_ window: Range<Int>, from expAvg: UnsafePointer<Float>?, _ expAvgSq: UnsafePointer<Float>?,
                        optimizer: AdamW, shards: ParameterShards, comm: Communicator) throws {
        let layout = parts(of: window, shards), (offset, count) = mine(window, optimizer)
        try layout.withUnsafeBufferPointer { l in
            let counts = l.baseAddress!, offsets = l.baseAddress! + shards.ranks
            var requests = [
                try comm.startScatter(expAvg, counts: counts, offsets: offsets, into: optimizer.expAvg.base + offset, count: count, root: 0),
                try comm.startScatter(expAvgSq, counts: counts, offsets: offsets, into: optimizer.expAvgSq.base + offset, count: count, root: 0),
            ]
            try comm.waitAll(&requests, operation: "checkpoint moments scatter")
        }
    }

    /// Collective save; rank 0 writes through `directory` (temporary file, fsync, rename, `latest`,
    /// retention) and returns the path, the other ranks nil. It blocks every rank for the whole write.
    /// A failed write throws on rank 0 (which then ends the job, as a failed background save does).
    static func save(_ step: TrainStep, shards: ParameterShards, directory: CheckpointDirectory, comm: Communicator,
                     jobText: String, programVersion: String, keepLast: Int, keepEvery: Int,
                     accounting: NamedNumbers, carried: CarriedTexts = CarriedTexts()) throws -> String? {
        let layout = step.model.layout, windows = MomentWindows.plan(layout: layout)
        guard comm.rank == 0 else {
            for window in windows { try gather(window.range, optimizer: step.optimizer, shards: shards, comm: comm, into: nil, nil) }
            return nil
        }
        let counters = step.progress
        do {
            return try directory.save(iteration: counters.iteration, keepLast: keepLast, keepEvery: keepEvery) { path in
                try CheckpointFile.write(path: path, layout: layout, params: step.model.params,
                                         moments: .windows(maxFloats: MomentWindows.defaultMaxFloats) { window, m, v in
                                             try gather(window.range, optimizer: step.optimizer, shards: shards, comm: comm, into: m, v)
                                         },
                                         counters: counters, jobText: jobText, worldSize: comm.size,
                                         programVersion: programVersion, accounting: accounting, carried: carried,
                                         beforeClose: { FaultInjection.reached(.save, iteration: counters.iteration) })
            }
        } catch let stall as CollectiveStall {
            throw stall
        } catch {
            throw SaveFailed(path: directory.path + "/" + CheckpointDirectory.fileName(iteration: counters.iteration),
                             iteration: counters.iteration, previous: directory.latest(), underlying: error)
        }
    }

    /// Collective load of the moments of the checkpoint at `path` (read on rank 0 only, window by
    /// window) into every rank's shard. A window rank 0 cannot read is sent as zeros so that the
    /// ranks stay in step; the error is returned on rank 0 (nil elsewhere and on success).
    static func load(path: String?, step: TrainStep, shards: ParameterShards, comm: Communicator) throws -> Error? {
        let layout = step.model.layout, windows = MomentWindows.plan(layout: layout)
        guard comm.rank == 0, let path else {
            for window in windows {
                try scatter(window.range, from: nil, nil, optimizer: step.optimizer, shards: shards, comm: comm)
            }
            return nil
        }
        let largest = max(1, windows.map(\.range.count).max() ?? 0)
        let m = UnsafeMutablePointer<Float>.allocate(capacity: largest), v = UnsafeMutablePointer<Float>.allocate(capacity: largest)
        defer { m.deallocate(); v.deallocate() }
        var failure: Error?
        var reader: MomentWindows.Reader?
        do { reader = try MomentWindows.Reader(path: path, layout: layout) } catch { failure = error }
        defer { reader?.close() }
        for window in windows {
            if failure == nil {
                do { try reader?.read(window, expAvg: m, expAvgSq: v) } catch { failure = error }
            }
            if failure != nil {
                m.update(repeating: 0, count: window.range.count)
                v.update(repeating: 0, count: window.range.count)
            }
            try scatter(window.range, from: m, v, optimizer: step.optimizer, shards: shards, comm: comm)
        }
        return failure
    }
}
