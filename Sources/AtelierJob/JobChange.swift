/// A field that differs between the job a checkpoint was saved under and the job resuming it.
public struct JobChange: Equatable, Sendable, CustomStringConvertible {
    public let field: String
    public let before: String     // in the checkpoint's job; "(default)" when not set there
    public let after: String      // in the job resuming it

    public var description: String { "\(field): \(before) -> \(after)" }

    /// Fields a resume may change freely: how long to train, how often to log, evaluate and save,
    /// how the work is spread over ranks and accounted. Everything else (seed, model, data, global
    /// batch, optimizer, schedule, working group) decides what the run computes.
    public static let freePrefixes = ["name", "run_dir", "train.", "checkpoint.", "accounting.", "distributed.",
                                      "batch.micro_batch_size", "model.init_from"]

    /// The changes between a checkpoint's job text and `current` that alter the training
    /// trajectory. Besides the written fields, the resolved learning-rate schedule is compared,
    /// since its defaults follow train.iterations.
    public static func trajectoryChanges(savedText: String, current: Job) -> [JobChange] {
        guard let savedTree = try? JobValue.parse(toml: savedText, file: "<checkpoint>"),
              let currentTree = try? JobValue.parse(toml: current.canonicalText, file: "<job>") else {
            return [JobChange(field: "the job file", before: "unreadable in the checkpoint", after: "this job")]
        }
        let before = savedTree.flattened(), after = currentTree.flattened()
        var changes: [JobChange] = []
        for key in Set(before.keys).union(after.keys).sorted() where before[key] != after[key] {
            if freePrefixes.contains(where: { key == $0 || ($0.hasSuffix(".") && key.hasPrefix($0)) }) { continue }
            changes.append(JobChange(field: key, before: before[key] ?? "(default)", after: after[key] ?? "(default)"))
        }
        if let saved = try? Job(tree: savedTree, file: "<checkpoint>") {
            for (field, old, new) in [("schedule.warmup_samples", saved.schedule.warmupSamples, current.schedule.warmupSamples),
                                      ("schedule.decay_samples", saved.schedule.decaySamples, current.schedule.decaySamples)]
            where old != new && !changes.contains(where: { $0.field == field }) {
                changes.append(JobChange(field: field, before: "\(old)", after: "\(new) (it follows train.iterations unless set)"))
            }
        }
        return changes
    }
}

extension JobValue {
    /// Every leaf as dotted path -> TOML literal (arrays are leaves).
    func flattened(prefix: String = "") -> [String: String] {
        guard case .table(let table) = self else { return [prefix: tomlLiteral] }
        var out: [String: String] = [:]
        for (key, value) in table {
            out.merge(value.flattened(prefix: prefix.isEmpty ? key : "\(prefix).\(key)")) { a, _ in a }
        }
        return out
    }
}
