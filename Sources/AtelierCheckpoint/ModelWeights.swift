import AtelierCore
import AtelierJob
import AtelierModel
import Foundation

/// The weights a command starts from, wherever they were saved: an Atelier checkpoint (`.h5`) or
/// a Hugging Face BLOOM directory. Only the parameters are read (no Adam moments), and the
/// tokenizer that goes with them is found: the checkpoint job's `data.tokenizer`, or the
/// directory's tokenizer.json.
public struct ModelWeights {
    public enum Origin {
        case checkpoint(CheckpointInfo)
        case huggingFace(HuggingFaceConfig)
    }

    public let path: String
    public let shape: ModelShape
    public let layout: ParameterLayout
    public let params: FloatBuffer
    public let origin: Origin
    /// The tokenizer.json that goes with these weights; nil for byte-level models.
    public let tokenizer: String?
    /// Tensors a Hugging Face directory holds that BLOOM's layout has no place for (not loaded).
    public let unusedTensors: [String]

    /// Whether `path` is a Hugging Face directory rather than a checkpoint file.
    public static func isHuggingFaceDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// Reads the shape, then the parameters into `allocate(count)`'s buffer (the caller may want
    /// them inside a model it builds).
    public static func load(path: String, allocate: (ParameterLayout) throws -> FloatBuffer = {
        try FloatBuffer(count: $0.count, for: "the model's parameters", advice: "this machine cannot hold the model in fp32")
    }) throws -> ModelWeights {
        if isHuggingFaceDirectory(path) {
            let config = try HuggingFaceConfig(directory: path)
            let layout = ParameterLayout(shape: config.shape)
            let params = try allocate(layout)
            let unused = try HuggingFaceWeights.load(directory: path, layout: layout, into: params)
            let tokenizer = path + "/tokenizer.json"
            return ModelWeights(path: path, shape: config.shape, layout: layout, params: params, origin: .huggingFace(config),
                                tokenizer: FileManager.default.fileExists(atPath: tokenizer) ? tokenizer : nil, unusedTensors: unused)
        }
        let shape = try CheckpointSummary.modelShape(path: path)
        let layout = ParameterLayout(shape: shape)
        let params = try allocate(layout)
        let info = try CheckpointFile.read(path: path, layout: layout, params: params, expAvg: nil, expAvgSq: nil)
        let job = try Job.parse(text: info.jobText, file: path + " (its job)")
        return ModelWeights(path: path, shape: shape, layout: layout, params: params, origin: .checkpoint(info),
                            tokenizer: job.data.kind == .indexed ? job.data.tokenizer : nil, unusedTensors: [])
    }

    /// Says on standard error which tensors of a Hugging Face directory were not loaded (nothing is
    /// dropped without a word); `atelier train` says the same when it starts from one.
    public func warnAboutUnusedTensors() {
        if let message = Self.unusedTensorsMessage(path, unusedTensors) { FileHandle.standardError.write(Data("atelier: \(message)\n".utf8)) }
    }

    /// The warning for tensors of `directory` that were not loaded; nil when there are none.
    public static func unusedTensorsMessage(_ directory: String, _ unused: [String]) -> String? {
        guard !unused.isEmpty else { return nil }
        let names = unused.prefix(5).joined(separator: ", ") + (unused.count > 5 ? ", ..." : "")
        return "\(directory): \(unused.count) tensor\(unused.count == 1 ? "" : "s") BLOOM's layout has no place for, not loaded: \(names)"
    }
}
