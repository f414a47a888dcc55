import AtelierAccounting
import AtelierCheckpoint
import AtelierJob
import Foundation

/// A model's lineage wherever it is kept (docs/accounting.md, "Lineage"): a checkpoint stores who
/// trained it and its ancestors (`/state/lineage`) and its own footprint as the accounting totals
/// and token counter it already carries; an export or a recorded outside model keeps the whole
/// tree in `atelier-lineage.json`; a model directory without one is unknown.
public enum CheckpointLineage {
    /// The lineage of the model in a checkpoint: its stored node with its footprint from the
    /// checkpoint's totals (the counted work up to that checkpoint) and tokens trained. A checkpoint
    /// from before lineage was stored gives a node named after its job, without ancestors; one
    /// from before accounting has an unknown footprint (not zero).
    public static func of(checkpoint info: CheckpointInfo, path: String) throws -> Lineage {
        var node: Lineage
        if let text = info.carried.lineage {
            node = try LineageFile.decode(Data(text.utf8), origin: path + " (/state/lineage)")
        } else {
            let job = try Job.parse(text: info.jobText, file: path + " (its job)")
            node = Lineage(name: job.name, workingGroup: job.workingGroup)
        }
        node.footprint = nil
        if !info.accounting.values.isEmpty {
            do {
                let totals = try AccountingTotals(names: info.accounting.names, values: info.accounting.values)
                node.footprint = Footprint(totals: totals, tokens: info.counters.consumedTokens)
            } catch let e as AccountingTotals.Unreadable {
                throw CheckpointError.invalidContents(file: path, dataset: "/state/accounting", reason: e.reason)
            }
        }
        return node
    }

    /// The lineage of the model at `path`: a checkpoint file, a run directory (its newest
    /// checkpoint), or a model directory (its atelier-lineage.json; unknown without one).
    public static func of(model path: String) throws -> Lineage {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw LineageError(origin: path, problem: "no such file or directory")
        }
        guard isDirectory.boolValue else { return try of(checkpoint: CheckpointFile.readInfo(path: path), path: path) }
        if FileManager.default.fileExists(atPath: path + "/checkpoints") && !FileManager.default.fileExists(atPath: path + "/config.json") {
            let directory = CheckpointDirectory(runDirectory: path)
            guard let newest = directory.candidates().first else {
                throw LineageError(origin: path, problem: "a run directory without checkpoints: nothing trained there yet")
            }
            return try of(checkpoint: CheckpointFile.readInfo(path: newest), path: newest)
        }
        return try LineageFile.read(directory: path) ?? .unknown(path)
    }

    /// The text a checkpoint stores: `node` without its footprint, which the checkpoint's totals hold.
    static func stored(_ node: Lineage) -> String {
        var node = node
        node.footprint = nil
        return String(decoding: LineageFile.encode(node), as: UTF8.self)
    }
}
