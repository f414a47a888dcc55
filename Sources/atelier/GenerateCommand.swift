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
        abstract: "Sample text from a checkpoint, to see what the model learned.",
        discussion: """
        The tokenizer is the one the checkpoint's job names (data.tokenizer), unless --tokenizer is
        given. Temperature 0 is greedy decoding. Generation stops at </s> or after --max-tokens.
        """)

    @Argument(help: "A checkpoint file.") var checkpoint: String
    @Option(help: "The text to continue.") var prompt: String
    @Option(help: "The tokenizer.json (default: the checkpoint job's data.tokenizer).") var tokenizer: String?
    @Option(help: "Sampling temperature (0: greedy).") var temperature = 0.8
    @Option(help: "Sample among the k most likely tokens (0: all).") var topK = 40
    @Option(help: "At most this many new tokens.") var maxTokens = 64
    @Option(help: "Random seed.") var seed: UInt64 = 1

    func run() throws {
        do {
            guard temperature >= 0, temperature.isFinite else { throw CLIError("--temperature \(temperature): expected a number >= 0") }
            guard maxTokens > 0 else { throw CLIError("--max-tokens \(maxTokens): expected at least 1") }
            let shape = try CheckpointSummary.modelShape(path: checkpoint)
            let model = BloomModel(shape: shape)
            let m = FloatBuffer(count: model.layout.count), v = FloatBuffer(count: model.layout.count)
            let info = try CheckpointFile.read(path: checkpoint, layout: model.layout, params: model.params, expAvg: m, expAvgSq: v)
            let path: String
            if let tokenizer { path = tokenizer } else {
                let job = try Job.parse(text: info.jobText, file: checkpoint + " (its job)")
                guard let named = job.data.tokenizer else {
                    throw CLIError("\(checkpoint): its job has no data.tokenizer (byte-level data?); pass --tokenizer")
                }
                path = named
            }
            let tok = try BPETokenizer.load(path: path)
            guard tok.vocabularySize <= shape.vocabSize else {
                throw CLIError("\(path): \(tok.vocabularySize) tokens, more than the model's vocabulary of \(shape.vocabSize)")
            }
            BLASRuntime.setThreads(ProcessInfo.processInfo.activeProcessorCount)
            let stop = tok.specials.firstIndex(of: "</s>").map { tok.specialIDs[$0] }
            let ids = Sampler(model: model, temperature: temperature, topK: topK)
                .continuation(of: tok.encode(prompt), maxTokens: maxTokens, stop: stop, seed: seed)
            print(prompt + tok.decode(ids))
        } catch {
            FileHandle.standardError.write(Data("atelier: error: \(error)\n".utf8))
            throw ExitCode(ExitStatus.badInput.rawValue)
        }
    }
}
