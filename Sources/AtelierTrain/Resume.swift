import AtelierAccounting
import AtelierCheckpoint
import AtelierJob
import AtelierModel
import Foundation
import MPI

/// Resuming a run: rank 0 tries the run directory's checkpoints, newest first (falling back past
/// damaged ones with a warning), and broadcasts what it loaded to every rank, so a run saved on any
/// number of ranks continues on any other. With ZeRO stage 1 rank 0 reads the parameters only and
/// then sends each rank its shard of the moments window by window (`ShardedMoments.load`); a
/// checkpoint whose moments turn out damaged is skipped like any other.
enum Resume {
    /// What a resumed run carries on with from its checkpoint, on rank 0 (empty elsewhere).
    struct Carried {
        var totals = AccountingTotals()
        var ancestors: [Lineage]? = nil           // nil: the checkpoint stores no lineage (older than lineage)
        var validation: NewestValidation? = nil
    }

    /// Loads the newest valid checkpoint into `step` on every rank; nil when the run has none, else
    /// what the run carries on with: the checkpoint's accounting totals, lineage and newest validation.
    /// A checkpoint saved under a job whose trajectory fields differ from the job resuming it is
    /// refused (`JobChanged`) unless `acceptJobChange`, in which case `accepted` hears the changes.
    static func load(into step: TrainStep, directory: CheckpointDirectory, comm: Communicator, acceptJobChange: Bool = false,
                     accepted: ([JobChange]) -> Void = { _ in },
                     say: (String) -> Void, warn: (String) -> Void, excluding: [String] = []) throws -> Carried? {
        let model = step.model
        let sharded = step.shards
        // status: 0 nothing to resume, 1 loaded, 2 failed (rank 0 has the error); then the counters
        var header = [Int64](repeating: 0, count: 1 + TrainingCounters().packed.count)
        var loaded: (String, CheckpointInfo)?
        var failure: Error?
        if comm.rank == 0 {
            directory.removeStaleTemporaries()
            let candidates = directory.candidates().filter { !excluding.contains($0) }
            for path in candidates {
                do {
                    let info = try CheckpointFile.read(path: path, layout: model.layout, params: model.params,
                                                       expAvg: sharded == nil ? step.optimizer.expAvg : nil,
                                                       expAvgSq: sharded == nil ? step.optimizer.expAvgSq : nil)
                    loaded = (path, info)
                    break
                } catch let error as CheckpointError {
                    if case .shapeMismatch = error { failure = error; break }
                    if case .unknownFormat = error { failure = error; break }
                    warn("warning: skipping checkpoint \(error)")
                }
            }
            if loaded == nil && failure == nil && !(candidates + excluding).isEmpty {
                failure = CheckpointError.noValidCheckpoint(directory: directory.path, tried: excluding + candidates)
            }
            if let (path, info) = loaded {
                let changes = JobChange.trajectoryChanges(savedText: info.jobText, current: step.job)
                if !changes.isEmpty {
                    if acceptJobChange {
                        warn("warning: resuming \(path) with a changed job (--accept-job-change): " + changes.map(\.description).joined(separator: "; "))
                        accepted(changes)
                    } else {
                        failure = JobChanged(checkpoint: path, changes: changes)
                        loaded = nil
                    }
                }
            }
            if let (path, info) = loaded {
                do { _ = try carried(from: info, path: path) } catch { failure = error; loaded = nil }
            }
            if let (_, info) = loaded {
                header = [1] + info.counters.packed
            } else if failure != nil {
                header[0] = 2
            }
        }
        try comm.broadcast(&header)
        switch header[0] {
        case 0: return nil
        case 2: throw failure ?? CheckpointError.noValidCheckpoint(directory: directory.path, tried: [])
        default: break
        }
        if comm.size > 1 {
            for buffer in [model.params] + (sharded == nil ? [step.optimizer.expAvg, step.optimizer.expAvgSq] : []) {
                try comm.broadcast(UnsafeMutableRawBufferPointer(start: buffer.base, count: buffer.bytes))
            }
        }
        if let sharded {
            let damaged = try ShardedMoments.load(path: loaded?.0, step: step, shards: sharded, comm: comm)
            var status: [Int64] = [damaged == nil ? 0 : 1]
            try comm.broadcast(&status)
            if status[0] != 0 {
                if let damaged { warn("warning: skipping checkpoint \(damaged)") }
                return try load(into: step, directory: directory, comm: comm, acceptJobChange: acceptJobChange, accepted: accepted,
                                say: say, warn: warn, excluding: excluding + (loaded.map { [$0.0] } ?? []))
            }
        }
        guard let counters = TrainingCounters(packed: Array(header.dropFirst())) else {
            preconditionFailure("rank 0 broadcast counters it had read and checked: \(header)")
        }
        step.restore(counters)
        if let (path, info) = loaded {
            say("resumed from \(path) at iteration \(counters.iteration), \(counters.consumedSamples) samples consumed (saved on \(info.worldSizeAtSave) rank\(info.worldSizeAtSave == 1 ? "" : "s"), now \(comm.size))")
        }
        guard let (path, info) = loaded else { return Carried() }
        return try carried(from: info, path: path)
    }

    /// A checkpoint's totals, ancestors and newest validation, each checked (rank 0 reads them
    /// before it broadcasts, so a bad one fails every rank alike).
    static func carried(from info: CheckpointInfo, path: String) throws -> Carried {
        do {
            var carried = Carried(totals: try AccountingTotals(names: info.accounting.names, values: info.accounting.values))
            if let text = info.carried.lineage {
                carried.ancestors = try LineageFile.decode(Data(text.utf8), origin: path).ancestors
            }
            carried.validation = try info.carried.validation.map { try NewestValidation.decode($0, origin: path) }
            return carried
        } catch let e as AccountingTotals.Unreadable {
            throw CheckpointError.invalidContents(file: path, dataset: "/state/accounting", reason: e.reason)
        } catch let e as LineageError {
            throw CheckpointError.invalidContents(file: path, dataset: info.carried.lineage != nil ? "/state/lineage" : "/state/validation", reason: e.problem)
        }
    }

    /// Starts from `model.init_from`: a Hugging Face BLOOM directory or another run's checkpoint
    /// file. Rank 0 reads and checks it, and its lineage (an unknown node for a directory without
    /// one); every rank gets the weights. Adam moments start at zero, as for any new run. Returns
    /// the model's lineage on rank 0 (an unknown node elsewhere).
    static func initialize(_ step: TrainStep, from path: String, comm: Communicator, say: (String) -> Void,
                           warn: (String) -> Void) throws -> Lineage {
        var status: [Int64] = [0]
        var failure: Error?
        var ancestor = Lineage.unknown(path)
        let isCheckpoint = !ModelWeights.isHuggingFaceDirectory(path)
        if comm.rank == 0 {
            do {
                if isCheckpoint {
                    let info = try CheckpointFile.read(path: path, layout: step.model.layout, params: step.model.params, expAvg: nil, expAvgSq: nil)
                    ancestor = try CheckpointLineage.of(checkpoint: info, path: path)
                } else {
                    let unused = try HuggingFaceWeights.load(directory: path, layout: step.model.layout, into: step.model.params)
                    if let message = ModelWeights.unusedTensorsMessage(path, unused) { warn(message) }
                    ancestor = try LineageFile.read(directory: path) ?? .unknown(path)
                }
            } catch {
                failure = error
                status[0] = 1
            }
        }
        try comm.broadcast(&status)
        if status[0] != 0 { throw failure ?? HuggingFaceConfig.Mismatch(directory: path, problem: "rank 0 could not load it") }
        if comm.size > 1 {
            try comm.broadcast(UnsafeMutableRawBufferPointer(start: step.model.params.base, count: step.model.params.bytes))
        }
        let hash = String(format: "%016llx", step.model.layout.hash(step.model.params))
        say(isCheckpoint ? "initialised from the checkpoint \(path) (weights hash \(hash))"
            : "initialised from the Hugging Face model in \(path) (weights hash \(hash))")
        say("lineage: starts from \(ancestor.name)" + (ancestor.footprint == nil ? ", whose footprint is unknown (a model from elsewhere: `atelier lineage add` records a published figure)"
            : ancestor.source.map { ", with a recorded footprint (\($0))" } ?? ", with its measured footprint and \(ancestor.nodes.count - 1) ancestor\(ancestor.nodes.count == 2 ? "" : "s") of its own"))
        return ancestor
    }
}

/// The job resuming a run differs from the one its checkpoint was saved under in a field that
/// changes what is computed.
public struct JobChanged: Error, CustomStringConvertible {
    public let checkpoint: String
    public let changes: [JobChange]
    public var description: String {
        "\(checkpoint) was saved under a different job: " + changes.map(\.description).joined(separator: "; ")
            + ". Resume with the job as it was (RUN_DIR/job.toml holds it), start a new run directory, or pass --accept-job-change to continue with the new values (recorded in the ledger)"
    }
}
