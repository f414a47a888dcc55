import AtelierModel
import Foundation

/// The weights of a Hugging Face BLOOM directory: `model.safetensors`, or shards listed by
/// `model.safetensors.index.json` (`{"weight_map": {tensor: file}}`, as every BLOOM from 1b7 up
/// is published), in F32, F16 or BF16, with the state-dict names `BloomForCausalLM` uses (with or
/// without the "transformer." prefix). Each file is memory-mapped and widened straight into the
/// parameter buffer. lm_head.weight, where present, is the tied embedding and is not read.
public enum HuggingFaceWeights {
    public static let single = "model.safetensors"
    public static let index = "model.safetensors.index.json"

    /// The weight files of `directory`, each with the tensors it holds (nil: all of them).
    static func files(in directory: String) throws -> [(file: String, names: Set<String>?)] {
        func bad(_ problem: String) -> HuggingFaceConfig.Mismatch { .init(directory: directory, problem: problem) }
        let fm = FileManager.default
        let indexPath = directory + "/" + index
        if fm.fileExists(atPath: indexPath) {
            guard let data = fm.contents(atPath: indexPath),
                  let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let map = root["weight_map"] as? [String: String] else {
                throw bad("\(index) has no \"weight_map\" of tensor name -> file")
            }
            var byFile: [String: Set<String>] = [:]
            for (name, file) in map {
                guard !file.contains("/"), file.hasSuffix(".safetensors") else {
                    throw bad("\(index) maps '\(name)' to \"\(file)\"; expected a .safetensors file in the same directory")
                }
                byFile[file, default: []].insert(name)
            }
            return byFile.keys.sorted().map { (directory + "/" + $0, byFile[$0]) }
        }
        if fm.fileExists(atPath: directory + "/" + single) { return [(directory + "/" + single, nil)] }
        for pickle in ["pytorch_model.bin", "pytorch_model.bin.index.json"] where fm.fileExists(atPath: directory + "/" + pickle) {
            throw bad("""
                has only \(pickle) (PyTorch pickle), which atelier does not read: pickles can run code. Convert it once with \
                python3 -c "import transformers as t; t.BloomForCausalLM.from_pretrained('\(directory)').save_pretrained('\(directory)', safe_serialization=True)"
                """)
        }
        throw bad("no \(single) or \(index); expected a Hugging Face BLOOM directory")
    }

    /// Loads every tensor of `layout` into `params`; returns the names of tensors the files hold
    /// that BLOOM's layout has no place for (besides the tied lm_head), for the caller to report.
    @discardableResult
    public static func load(directory: String, layout: ParameterLayout, into params: FloatBuffer) throws -> [String] {
        func bad(_ problem: String) -> HuggingFaceConfig.Mismatch { .init(directory: directory, problem: problem) }
        try HuggingFaceConfig(directory: directory).check(against: layout.shape, directory: directory)
        let wanted = Dictionary(uniqueKeysWithValues: layout.tensors.map { ($0.name, $0) })
        var loaded = Set<String>()
        var unused: [String] = []
        for (path, names) in try files(in: directory) {
            let file = try SafetensorsFile(path: path)
            let fileName = (path as NSString).lastPathComponent
            if let names, let missing = names.first(where: { file.entries[$0] == nil }) {
                throw bad("\(index) puts '\(missing)' in \(fileName), which has no such tensor")
            }
            for (name, entry) in file.entries {
                let ours = name.hasPrefix("transformer.") ? name : "transformer." + name
                guard let t = wanted[ours] else {
                    if name != "lm_head.weight" { unused.append(name) }
                    continue
                }
                guard !loaded.contains(ours) else { throw bad("tensor '\(ours)' appears twice (in \(fileName) and before)") }
                guard entry.shape == t.shape else {
                    throw bad("\(fileName): tensor '\(name)' has shape \(entry.shape), expected \(t.shape)")
                }
                file.read(entry, into: params.base + t.offset)
                loaded.insert(ours)
            }
        }
        if let missing = layout.tensors.first(where: { !loaded.contains($0.name) }) {
            throw bad("no weight file holds tensor '\(missing.name)'")
        }
        return unused.sorted()
    }
}
