import AtelierModel
import Foundation
import HDF5

/// Saves checkpoints while training goes on: `save` copies parameters and moments into a snapshot
/// (the only part that blocks the training step) and a background thread writes the snapshot
/// durably through `CheckpointDirectory`. One save at a time: a new save, or `finish()`, first waits
/// for the previous one. Costs one extra copy of params + moments in memory on the saving rank.
public final class CheckpointWriter: @unchecked Sendable {
    public struct Saved: Sendable {
        public let path: String
        public let iteration: Int
        public let blockedSeconds: Double   // the copy, on the training thread
        public let writeSeconds: Double     // HDF5 write + fsyncs + rename, in the background
        public let parameterHash: UInt64
    }

    let directory: CheckpointDirectory
    let layout: ParameterLayout
    private let snapshot: (params: FloatBuffer, expAvg: FloatBuffer, expAvgSq: FloatBuffer)
    private let queue = DispatchQueue(label: "atelier.checkpoint-writer")
    private let pending = DispatchGroup()
    private let lock = NSLock()
    private var failure: Error?

    /// Floats the snapshot takes for `parameters` parameters: params, m and v (what `init` allocates).
    public static func snapshotFloats(parameters: Int) -> Int { 3 * parameters }

    /// Bytes a save holds besides the snapshot while it writes: the HDF5 writer's chunk buffers.
    public static func writeBufferBytes(layout: ParameterLayout) -> Int {
        H5File.writeBufferBytes(shapes: layout.tensors.map(\.shape))
    }

    /// Allocates the snapshot now, so that a save never runs out of memory halfway through a run;
    /// throws `AllocationFailed` when it does not fit.
    public init(directory: CheckpointDirectory, layout: ParameterLayout) throws {
        self.directory = directory
        self.layout = layout
        let what = "the checkpoint writer's snapshot of parameters and moments"
        snapshot = (try FloatBuffer(count: layout.count, for: what), try FloatBuffer(count: layout.count, for: what),
                    try FloatBuffer(count: layout.count, for: what))
    }

    /// Snapshots the state and starts writing it; `done` is called from the writer thread.
    /// Throws the previous save's error, if it failed.
    public func save(params: FloatBuffer, expAvg: FloatBuffer, expAvgSq: FloatBuffer, counters: TrainingCounters,
                     jobText: String, worldSize: Int, programVersion: String, keepLast: Int, keepEvery: Int,
                     accounting: NamedNumbers = NamedNumbers(), carried: CarriedTexts = CarriedTexts(),
                     beforeClose: @escaping @Sendable () -> Void = {},
                     done: @escaping @Sendable (Saved) -> Void) throws {
        try finish()
        let start = DispatchTime.now().uptimeNanoseconds
        copyInParallel([(snapshot.params, params), (snapshot.expAvg, expAvg), (snapshot.expAvgSq, expAvgSq)])
        let blocked = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        pending.enter()
        queue.async { [self] in
            defer { pending.leave() }
            let writeStart = DispatchTime.now().uptimeNanoseconds
            let target = directory.path + "/" + CheckpointDirectory.fileName(iteration: counters.iteration)
            do {
                let path = try directory.save(iteration: counters.iteration, keepLast: keepLast, keepEvery: keepEvery) { path in
                    try CheckpointFile.write(path: path, layout: layout, params: snapshot.params, expAvg: snapshot.expAvg,
                                             expAvgSq: snapshot.expAvgSq, counters: counters, jobText: jobText,
                                             worldSize: worldSize, programVersion: programVersion, accounting: accounting,
                                             carried: carried, beforeClose: beforeClose)
                }
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - writeStart) / 1e9
                done(Saved(path: path, iteration: counters.iteration, blockedSeconds: blocked, writeSeconds: seconds,
                           parameterHash: layout.hash(snapshot.params)))
            } catch {
                let failed = SaveFailed(path: target, iteration: counters.iteration, previous: directory.latest(), underlying: error)
                lock.lock(); failure = failed; lock.unlock()
            }
        }
    }

    /// Whether a save has failed (its error not yet thrown by `save` or `finish`); does not wait.
    public var hasFailed: Bool {
        lock.lock(); defer { lock.unlock() }
        return failure != nil
    }

    /// Waits for the save in flight; throws if it failed (the previous checkpoint is then intact).
    public func finish() throws {
        pending.wait()
        lock.lock(); defer { lock.unlock() }
        if let error = failure {
            failure = nil
            throw error
        }
    }

    /// Copies each source into its destination with every core: training is paused for the copy
    /// anyway, and one core's memory bandwidth is well below the machine's.
    private func copyInParallel(_ pairs: [(to: FloatBuffer, from: FloatBuffer)]) {
        struct Slice: @unchecked Sendable { let to: UnsafeMutablePointer<Float>, from: UnsafePointer<Float>, count: Int }
        let parts = ProcessInfo.processInfo.activeProcessorCount
        var slices: [Slice] = []
        for (to, from) in pairs {
            let step = (from.count + parts - 1) / parts
            for start in stride(from: 0, to: from.count, by: max(1, step)) {
                slices.append(Slice(to: to.base + start, from: from.base + start, count: min(step, from.count - start)))
            }
        }
        let work = slices
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            for slice in work.enumerated() where slice.offset % parts == part {
                slice.element.to.update(from: slice.element.from, count: slice.element.count)
            }
        }
    }
}

/// A checkpoint that could not be written; nothing of it is left and the previous one is intact.
public struct SaveFailed: Error, CustomStringConvertible {
    public let path: String
    public let iteration: Int
    public let previous: String?
    public let underlying: Error
    public init(path: String, iteration: Int, previous: String?, underlying: Error) {
        (self.path, self.iteration, self.previous, self.underlying) = (path, iteration, previous, underlying)
    }
    public var description: String {
        "could not save the checkpoint of iteration \(iteration) (\(path)): \(underlying). "
            + (previous.map { "The previous checkpoint, \($0), is intact; free space or fix the directory and rerun the same command to resume from it" }
               ?? "There is no earlier checkpoint; fix the directory and rerun")
    }
}
