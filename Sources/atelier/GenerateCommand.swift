import ArgumentParser
import AtelierCheckpoint
import AtelierJob
import AtelierModel
import AtelierTokenizer
import AtelierTrain
import BLAS
import Foundation

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Sample text from a checkpoint or a Hugging Face BLOOM directory.",
        discussion: """
        MODEL is an Atelier checkpoint (.h5) or a Hugging Face BLOOM directory (config.json with
        model.safetensors or a sharded model.safetensors.index.json; F32, F16 or BF16), such as
        bigscience/bloom-560m downloaded from the Hub. The tokenizer is the checkpoint job's
        data.tokenizer or the directory's tokenizer.json, unless --tokenizer is given; a model
        whose vocabulary is padded past the tokenizer's (BLOOM: 250,880 rows, 250,680 tokens) never
        samples an id the tokenizer lacks. Temperature 0 is greedy decoding. Generation stops at
        </s> or after --max-tokens.
        """)

    @Argument(help: "A checkpoint file or a Hugging Face BLOOM directory.") var checkpoint: String
    @Option(help: "The text to continue.") var prompt: String
    @Option(help: "The tokenizer.json (default: the checkpoint job's data.tokenizer, or the directory's).") var tokenizer: String?
    @Option(help: "Sampling temperature (0: greedy).") var temperature = 0.8
    @Option(help: "Sample among the k most likely tokens (0: all).") var topK = 40
    @Option(help: "At most this many new tokens.") var maxTokens = 64
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Flag(help: "Print a JSON object with the prompt's and the new tokens' ids and the text.") var json = false

    func run() throws {
        do {
            guard temperature >= 0, temperature.isFinite else { throw CLIError("--temperature \(temperature): expected a number >= 0") }
            guard maxTokens > 0 else { throw CLIError("--max-tokens \(maxTokens): expected at least 1") }
            guard topK >= 0 else { throw CLIError("--top-k \(topK): expected 0 (all) or more") }
            var built: BloomModel?
            let weights = try ModelWeights.load(path: checkpoint) { layout in
                let model = try BloomModel.allocate(shape: layout.shape, gradients: false)   // inference: no gradients
                built = model
                return model.params
            }
            guard let model = built else { throw CLIError("\(checkpoint): no model was read") }
            weights.warnAboutUnusedTensors()
            guard let path = tokenizer ?? weights.tokenizer else {
                throw CLIError("\(checkpoint): no tokenizer goes with it (a byte-level job, or a directory without tokenizer.json); pass --tokenizer")
            }
            let tok = try BPETokenizer.load(path: path)
            guard tok.vocabularySize <= weights.shape.vocabSize else {
                throw CLIError("\(path): \(tok.vocabularySize) tokens, more than the model's vocabulary of \(weights.shape.vocabSize)")
            }
            BLASRuntime.setThreads(ProcessInfo.processInfo.activeProcessorCount)
            let promptIDs = tok.encode(prompt)
            guard !promptIDs.isEmpty else { throw CLIError("--prompt is empty; give at least one character to continue") }
            let ids = try Sampler(model: model, temperature: temperature, topK: topK, sampleableVocabulary: tok.vocabularySize)
                .continuation(of: promptIDs, maxTokens: maxTokens, stop: tok.specialID("</s>"), seed: seed)
            let text = tok.decode(ids)
            if json {
                let object: [String: Any] = ["prompt_ids": promptIDs.map(Int.init), "ids": ids.map(Int.init), "text": text]
                print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
            } else {
                print(prompt + text)
            }
        } catch {
            FileHandle.standardError.write(Data("atelier: error: \(error)\n".utf8))
            throw ExitCode(ExitStatus.of(error).0.rawValue)
        }
    }
}
