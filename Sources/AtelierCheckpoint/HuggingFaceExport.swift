import AtelierJob
import AtelierModel
import Foundation

/// A Hugging Face BLOOM directory: config.json (BloomConfig fields) and model.safetensors with the
/// state-dict names `BloomForCausalLM` uses. lm_head.weight is tied to the word embeddings and, as
/// `save_pretrained` does, not written; `from_pretrained` ties it again.
public enum HuggingFaceBloom {
    public struct Mismatch: Error, CustomStringConvertible {
        public let directory: String
        public let problem: String
        public init(directory: String, problem: String) {
            self.directory = directory
            self.problem = problem
        }
        public var description: String { "\(directory): \(problem)" }
    }

    public static func export(layout: ParameterLayout, params: FloatBuffer, to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let s = layout.shape
        let config: [String: Any] = [
            "architectures": ["BloomForCausalLM"], "model_type": "bloom",
            "vocab_size": s.vocabSize, "hidden_size": s.hiddenSize, "n_layer": s.layers, "n_head": s.heads,
            "layer_norm_epsilon": Double("\(s.layerNormEpsilon)") ?? 1e-5, "initializer_range": s.initStd,
            "apply_residual_connection_post_layernorm": false, "hidden_dropout": 0.0, "attention_dropout": 0.0,
            "pretraining_tp": 1, "slow_but_exact": false, "tie_word_embeddings": true, "use_cache": true,
            "bos_token_id": Int(ByteVocabulary.bos), "eos_token_id": Int(ByteVocabulary.eos), "pad_token_id": Int(ByteVocabulary.pad),
            "torch_dtype": "float32", "seq_length": s.sequenceLength,
        ]
        let json = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
        try json.write(to: URL(fileURLWithPath: directory + "/config.json"), options: .atomic)
        try Safetensors.write(path: directory + "/model.safetensors",
                              tensors: layout.tensors.map { ($0.name, $0.shape, UnsafePointer(params.base + $0.offset)) },
                              metadata: ["format": "pt"])
    }

    /// The model shape a Hugging Face BLOOM config.json declares.
    public static func shape(directory: String) throws -> (vocab: Int, hidden: Int, layers: Int, heads: Int) {
        guard let data = FileManager.default.contents(atPath: directory + "/config.json"),
              let config = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw Mismatch(directory: directory, problem: "no readable config.json")
        }
        func int(_ keys: [String]) throws -> Int {
            for k in keys { if let v = config[k] as? Int { return v } }
            throw Mismatch(directory: directory, problem: "config.json lacks \(keys[0])")
        }
        return (try int(["vocab_size"]), try int(["hidden_size", "n_embed"]), try int(["n_layer", "num_hidden_layers"]),
                try int(["n_head", "num_attention_heads"]))
    }

    /// Loads a Hugging Face BLOOM directory's weights into `params`, refusing a shape that is not the job's.
    public static func load(directory: String, layout: ParameterLayout, into params: FloatBuffer) throws {
        let s = layout.shape
        let declared = try shape(directory: directory)
        for (field, theirs, ours) in [("vocab_size", declared.vocab, s.vocabSize), ("hidden_size", declared.hidden, s.hiddenSize),
                                      ("n_layer", declared.layers, s.layers), ("n_head", declared.heads, s.heads)] where theirs != ours {
            throw Mismatch(directory: directory, problem: "config.json has \(field) \(theirs) but the job's model has \(ours); make the job's [model] match it")
        }
        let tensors = try Safetensors.read(path: directory + "/model.safetensors")
        for t in layout.tensors {
            // BLOOM checkpoints on the Hub store names with or without the "transformer." prefix.
            guard let found = tensors[t.name] ?? tensors[String(t.name.dropFirst("transformer.".count))] else {
                throw Mismatch(directory: directory, problem: "model.safetensors has no tensor '\(t.name)'")
            }
            guard found.shape == t.shape else {
                throw Mismatch(directory: directory, problem: "tensor '\(t.name)' has shape \(found.shape), expected \(t.shape)")
            }
            found.data.withUnsafeBytes { raw in
                (params.base + t.offset).update(from: raw.bindMemory(to: Float.self).baseAddress!, count: t.count)
            }
        }
    }
}
