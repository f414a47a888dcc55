import AtelierModel
import Foundation

/// Writes a Hugging Face BLOOM directory that `BloomForCausalLM.from_pretrained` loads:
/// config.json, generation_config.json, and the weights in `dtype`, as one model.safetensors or,
/// above `maxShardBytes`, as model-0000i-of-0000n.safetensors shards with
/// model.safetensors.index.json, split as transformers' `save_pretrained` splits them (tensors in
/// state-dict order, a new shard when the next tensor would pass the limit). lm_head.weight is tied
/// to the word embeddings and, as save_pretrained does, not written. Every file is written under
/// a temporary name and renamed into place once all are written; weight files of an earlier
/// export that the new one does not use are removed, so loaders never see a mixed directory.
public enum HuggingFaceExport {
    /// transformers' default `max_shard_size`, "5GB".
    public static let defaultMaxShardBytes = 5_000_000_000

    public struct Written: Sendable {
        public let files: [String]
        public let weightBytes: Int
    }

    @discardableResult
    public static func write(layout: ParameterLayout, params: FloatBuffer, config: HuggingFaceConfig, dtype: TensorDType,
                             maxShardBytes: Int = defaultMaxShardBytes, extraFiles: [(name: String, contents: Data)] = [],
                             to directory: String) throws -> Written {
        let fm = FileManager.default
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let tensors = layout.tensors.map {
            SafetensorsWriter.Tensor(name: $0.name, shape: $0.shape, values: UnsafePointer(params.base + $0.offset))
        }
        var shards: [[SafetensorsWriter.Tensor]] = [[]]
        var shardBytes = 0
        for t in tensors {
            let bytes = t.count * dtype.size
            if !shards[shards.count - 1].isEmpty && shardBytes + bytes > maxShardBytes {
                shards.append([])
                shardBytes = 0
            }
            shards[shards.count - 1].append(t)
            shardBytes += bytes
        }
        let names = shards.count == 1 ? [HuggingFaceWeights.single]
            : (1...shards.count).map { String(format: "model-%05d-of-%05d.safetensors", $0, shards.count) }
        let suffix = ".tmp-\(getpid())"
        var staged: [String] = []      // written in full under their temporary names
        var attempted: [String] = []   // started: a failure removes these temporaries, partial or whole
        func stage(_ name: String, _ write: (String) throws -> Void) throws {
            attempted.append(name)
            try write(directory + "/" + name + suffix)
            staged.append(name)
        }
        do {
            for (name, shard) in zip(names, shards) {
                try stage(name) { try SafetensorsWriter.write(path: $0, tensors: shard, dtype: dtype, metadata: ["format": "pt"]) }
            }
            var documents: [(String, Data)] = [
                ("config.json", try json(config.configJSON(dtype: dtype))),
                ("generation_config.json", try json(config.generationConfigJSON)),
            ]
            if shards.count > 1 {
                var map: [String: String] = [:]
                for (name, shard) in zip(names, shards) { for t in shard { map[t.name] = name } }
                let total = tensors.reduce(0) { $0 + $1.count * dtype.size }
                documents.append((HuggingFaceWeights.index, try json(["metadata": ["total_size": total], "weight_map": map])))
            }
            for (name, data) in documents + extraFiles.map({ ($0.name, $0.contents) }) {
                try stage(name) { try data.write(to: URL(fileURLWithPath: $0)) }
            }
            // Everything is written: into place, then the earlier export's weight files the new one
            // does not use.
            for (i, name) in staged.enumerated() where rename(directory + "/" + name + suffix, directory + "/" + name) != 0 {
                let reason = String(cString: strerror(errno))
                attempted = Array(staged[i...])
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: directory + "/" + name, NSLocalizedDescriptionKey: reason])
            }
        } catch {
            for name in attempted { try? fm.removeItem(atPath: directory + "/" + name + suffix) }
            throw error
        }
        let keep = Set(staged)
        for old in (try? fm.contentsOfDirectory(atPath: directory)) ?? [] where !keep.contains(old) && isWeightFile(old) {
            try fm.removeItem(atPath: directory + "/" + old)
        }
        return Written(files: staged, weightBytes: tensors.reduce(0) { $0 + $1.count * dtype.size })
    }

    /// Files a Hugging Face loader would take weights from.
    static func isWeightFile(_ name: String) -> Bool {
        name == HuggingFaceWeights.single || name == HuggingFaceWeights.index
            || (name.hasPrefix("model-") && name.hasSuffix(".safetensors") && name.contains("-of-"))
    }

    static func json(_ object: Any) throws -> Data {
        try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }

    /// "5GB", "500MB", "2GiB", "100KB" or a byte count, as transformers' `max_shard_size` reads them.
    public static func parseSize(_ text: String) -> Int? {
        let units: [(String, Double)] = [("GiB", 0x1p30), ("MiB", 0x1p20), ("KiB", 0x1p10), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3), ("B", 1)]
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        for (unit, scale) in units where trimmed.hasSuffix(unit) {
            guard let number = Double(trimmed.dropLast(unit.count)), number > 0, number * scale < 1e15 else { return nil }
            return Int(number * scale)
        }
        guard let bytes = Int(trimmed), bytes > 0 else { return nil }
        return bytes
    }
}
