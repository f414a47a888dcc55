import AtelierCore
import AtelierData
import AtelierJob
import Foundation

/// A Hugging Face BLOOM directory's config.json (`BloomConfig`): the model's shape and its special
/// token ids. Atelier implements BLOOM as `BloomForCausalLM` defines it with the published
/// models' settings; a config asking for something else (post-LayerNorm residuals, untied
/// lm_head, another model type) is refused by field.
public struct HuggingFaceConfig: Equatable, Sendable {
    public var shape: ModelShape
    public var tokens: SpecialTokenIDs

    /// What a directory lacks or declares that Atelier cannot use.
    public struct Mismatch: Error, CustomStringConvertible {
        public let directory: String
        public let problem: String
        public init(directory: String, problem: String) {
            self.directory = directory
            self.problem = problem
        }
        public var description: String { "\(directory): \(problem)" }
    }

    /// The sequence length a config without `seq_length` gets: BLOOM's training context.
    public static let defaultSequenceLength = 2048

    public init(shape: ModelShape, tokens: SpecialTokenIDs) {
        self.shape = shape
        self.tokens = tokens
    }

    public init(directory: String) throws {
        func bad(_ problem: String) -> Mismatch { Mismatch(directory: directory, problem: problem) }
        let path = directory + "/config.json"
        guard FileManager.default.fileExists(atPath: path) else {
            throw bad("no config.json; expected a Hugging Face BLOOM directory (config.json and model.safetensors or model.safetensors.index.json)")
        }
        guard let data = FileManager.default.contents(atPath: path),
              let config = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw bad("config.json is not a JSON object")
        }
        func int(_ keys: [String], default value: Int? = nil, range: ClosedRange<Int>) throws -> Int {
            for k in keys where config[k] != nil && !(config[k] is NSNull) {
                guard let v = config[k] as? Int, range.contains(v) else {
                    throw bad("config.json: \(k) is \(config[k]!), expected an integer in \(range.lowerBound)...\(range.upperBound)")
                }
                return v
            }
            if let value { return value }
            throw bad("config.json lacks \(keys[0])")
        }
        func flag(_ key: String, default value: Bool) throws -> Bool {
            guard let v = config[key], !(v is NSNull) else { return value }
            guard let b = v as? Bool else { throw bad("config.json: \(key) is \(v), expected true or false") }
            return b
        }
        if let type = config["model_type"] as? String, type != "bloom" {
            throw bad("config.json: model_type is \"\(type)\"; atelier trains BLOOM (\"bloom\") models only")
        }
        if try flag("apply_residual_connection_post_layernorm", default: false) {
            throw bad("config.json: apply_residual_connection_post_layernorm is true; atelier implements BLOOM's published setting, false")
        }
        if try !flag("tie_word_embeddings", default: true) {
            throw bad("config.json: tie_word_embeddings is false; atelier's lm_head is tied to the word embeddings, as in every BLOOM")
        }
        let vocab = try int(["vocab_size"], range: 1...JobLimits.vocabSize)
        let hidden = try int(["hidden_size", "n_embed"], range: 1...JobLimits.hiddenSize)
        let layers = try int(["n_layer", "num_hidden_layers"], range: 1...JobLimits.layers)
        let heads = try int(["n_head", "num_attention_heads"], range: 1...hidden)
        guard hidden % heads == 0 else { throw bad("config.json: hidden_size \(hidden) is not a multiple of n_head \(heads)") }
        let sequence = try int(["seq_length"], default: Self.defaultSequenceLength, range: 1...JobLimits.sequenceLength)
        var shape = ModelShape(vocabSize: vocab, hiddenSize: hidden, layers: layers, heads: heads, sequenceLength: sequence)
        if let initStd = config["initializer_range"] as? Double, initStd > 0, initStd.isFinite { shape.initStd = initStd }
        if let eps = config["layer_norm_epsilon"] {
            guard let e = eps as? Double, e > 0, e < 1 else { throw bad("config.json: layer_norm_epsilon is \(eps), expected a small positive number") }
            shape.layerNormEpsilon = Float(e)
        }
        func id(_ key: String) throws -> Int32? {
            guard config[key] != nil, !(config[key] is NSNull) else { return nil }
            return Int32(try int([key], range: 0...(vocab - 1)))
        }
        self.shape = shape
        tokens = SpecialTokenIDs(bos: try id("bos_token_id"), eos: try id("eos_token_id"), pad: try id("pad_token_id"))
    }

    /// config.json as `save_pretrained` writes it for BloomForCausalLM.
    public func configJSON(dtype: TensorDType) -> [String: Any] {
        let s = shape
        return [
            "architectures": ["BloomForCausalLM"], "model_type": "bloom",
            "vocab_size": s.vocabSize, "hidden_size": s.hiddenSize, "n_layer": s.layers, "n_head": s.heads,
            "layer_norm_epsilon": Double("\(s.layerNormEpsilon)") ?? 1e-5, "initializer_range": s.initStd,
            "apply_residual_connection_post_layernorm": false, "hidden_dropout": 0.0, "attention_dropout": 0.0,
            "pretraining_tp": 1, "slow_but_exact": false, "tie_word_embeddings": true, "use_cache": true,
            "bos_token_id": tokens.bos.map { Int($0) as Any } ?? NSNull(),
            "eos_token_id": tokens.eos.map { Int($0) as Any } ?? NSNull(),
            "pad_token_id": tokens.pad.map { Int($0) as Any } ?? NSNull(),
            "torch_dtype": dtype.torchName, "seq_length": s.sequenceLength,
        ]
    }

    /// generation_config.json: what `generate` stops at and pads with.
    public var generationConfigJSON: [String: Any] {
        [
            "_from_model_config": true,
            "bos_token_id": tokens.bos.map { Int($0) as Any } ?? NSNull(),
            "eos_token_id": tokens.eos.map { Int($0) as Any } ?? NSNull(),
            "pad_token_id": tokens.pad.map { Int($0) as Any } ?? NSNull(),
        ]
    }

    /// Refuses a directory whose shape is not the job's, naming the field.
    public func check(against ours: ModelShape, directory: String) throws {
        let theirs = shape
        for (field, a, b) in [("vocab_size", theirs.vocabSize, ours.vocabSize), ("hidden_size", theirs.hiddenSize, ours.hiddenSize),
                              ("n_layer", theirs.layers, ours.layers), ("n_head", theirs.heads, ours.heads)] where a != b {
            throw Mismatch(directory: directory, problem: "config.json has \(field) \(a) but the job's model has \(b); make the job's [model] match it")
        }
        if theirs.layerNormEpsilon != ours.layerNormEpsilon {
            throw Mismatch(directory: directory, problem: "config.json has layer_norm_epsilon \(theirs.layerNormEpsilon) but atelier's model uses \(ours.layerNormEpsilon)")
        }
    }
}

/// The ids `generate` and the tokenizer agree on: beginning and end of text, padding.
public struct SpecialTokenIDs: Equatable, Sendable {
    public var bos: Int32?
    public var eos: Int32?
    public var pad: Int32?
    public init(bos: Int32?, eos: Int32?, pad: Int32?) {
        (self.bos, self.eos, self.pad) = (bos, eos, pad)
    }
    /// Byte-level data's ids (jobs without a tokenizer).
    public static let byteLevel = SpecialTokenIDs(bos: ByteVocabulary.bos, eos: ByteVocabulary.eos, pad: ByteVocabulary.pad)
}
