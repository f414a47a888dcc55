import ArgumentParser
import AtelierCheckpoint
import AtelierModel
import AtelierTokenizer
import Foundation

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a model for Hugging Face transformers.",
        discussion: """
        Reads a checkpoint (or a Hugging Face BLOOM directory, to change its dtype or sharding) and
        writes OUTDIR/config.json, generation_config.json, the weights (model.safetensors, or
        model-0000i-of-0000n.safetensors shards with model.safetensors.index.json above
        --max-shard-size), the tokenizer (tokenizer.json, tokenizer_config.json), the model card
        (README.md, with the Hub's co2_eq_emissions) and the lineage (atelier-lineage.json), so that
        transformers.BloomForCausalLM.from_pretrained(OUTDIR) and AutoTokenizer load them.
        bos/eos/pad ids come from the tokenizer's <s>, </s> and <pad>.
        bf16 and f16 round each weight to nearest, ties to even (docs/checkpoint-format.md).
        """)

    @Option(help: "Output format; only 'hf' (Hugging Face) for now.") var format = "hf"
    @Option(help: "Weight dtype: f32 (exact), bf16 or f16 (rounded to nearest).") var dtype = "f32"
    @Option(help: "Largest weight file before sharding, as transformers reads it: 5GB, 500MB, 2GiB or bytes.") var maxShardSize = "5GB"
    @Option(help: "The tokenizer.json (default: the checkpoint job's data.tokenizer, or the directory's).") var tokenizer: String?
    @Argument(help: "A checkpoint file or a Hugging Face BLOOM directory.") var checkpoint: String
    @Argument(help: "The directory to write.") var outdir: String

    func run() throws {
        let written: HuggingFaceExport.Written
        let weights: ModelWeights
        do {
            guard format == "hf" else { throw CLIError("--format \(format): only 'hf' is supported") }
            guard let type = TensorDType(optionName: dtype) else { throw CLIError("--dtype \(dtype): expected f32, bf16 or f16") }
            guard let maxBytes = HuggingFaceExport.parseSize(maxShardSize) else {
                throw CLIError("--max-shard-size \(maxShardSize): expected a size such as 5GB, 500MB, 2GiB or a byte count")
            }
            weights = try ModelWeights.load(path: checkpoint)
            weights.warnAboutUnusedTensors()
            var config = HuggingFaceConfig(shape: weights.shape, tokens: .byteLevel)
            if case .huggingFace(let theirs) = weights.origin { config.tokens = theirs.tokens }
            var extra: [(name: String, contents: Data)] = []
            if let path = tokenizer ?? weights.tokenizer {
                let tok = try BPETokenizer.load(path: path)
                guard tok.vocabularySize <= weights.shape.vocabSize else {
                    throw CLIError("\(path): \(tok.vocabularySize) tokens, more than the model's vocabulary of \(weights.shape.vocabSize)")
                }
                config.tokens = SpecialTokenIDs(bos: tok.specialID("<s>"), eos: tok.specialID("</s>"), pad: tok.specialID("<pad>"))
                extra = try Self.tokenizerFiles(path: path, tokenizer: tok, maxLength: weights.shape.sequenceLength)
            }
            extra += try Self.modelCardFiles(weights: weights, dtype: type)
            written = try HuggingFaceExport.write(layout: weights.layout, params: weights.params, config: config, dtype: type,
                                                  maxShardBytes: maxBytes, extraFiles: extra, to: outdir)
        } catch {
            FileHandle.standardError.write(Data("atelier: error: \(error)\n".utf8))
            throw ExitCode(ExitStatus.of(error).0.rawValue)   // bad input 2; a failure to write (a full disk) 1
        }
        let from: String
        switch weights.origin {
        case .checkpoint(let info): from = "iteration \(info.counters.iteration) of \(checkpoint)"
        case .huggingFace: from = checkpoint
        }
        print("exported \(from) to \(outdir): \(written.files.joined(separator: ", ")) (\(String(format: "%.1f", Double(written.weightBytes) / 1e6)) MB of \(dtype) weights)")
    }

    /// tokenizer.json as it is, and a tokenizer_config.json naming BLOOM's fast tokenizer class.
    static func tokenizerFiles(path: String, tokenizer: BPETokenizer, maxLength: Int) throws -> [(name: String, contents: Data)] {
        guard let json = FileManager.default.contents(atPath: path) else { throw CLIError("\(path): cannot be read") }
        var config: [String: Any] = ["tokenizer_class": "BloomTokenizerFast", "model_max_length": maxLength]
        for (key, text) in [("bos_token", "<s>"), ("eos_token", "</s>"), ("pad_token", "<pad>"), ("unk_token", "<unk>")]
            where tokenizer.specialID(text) != nil { config[key] = text }
        return [("tokenizer.json", json),
                ("tokenizer_config.json", try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys]))]
    }
}
