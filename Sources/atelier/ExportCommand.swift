import ArgumentParser
import AtelierCheckpoint
import AtelierModel
import Foundation

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a checkpoint's model for Hugging Face transformers.",
        discussion: """
        Writes OUTDIR/config.json (BloomConfig) and OUTDIR/model.safetensors, so that
        transformers.BloomForCausalLM.from_pretrained(OUTDIR) loads the model.
        """)

    @Option(help: "Output format; only 'hf' (Hugging Face) for now.") var format = "hf"
    @Argument(help: "A checkpoint file.") var checkpoint: String
    @Argument(help: "The directory to write.") var outdir: String

    func run() throws {
        guard format == "hf" else {
            FileHandle.standardError.write(Data("atelier: error: --format \(format): only 'hf' is supported\n".utf8))
            throw ExitCode(ExitStatus.badInput.rawValue)
        }
        do {
            let shape = try CheckpointSummary.modelShape(path: checkpoint)
            let layout = ParameterLayout(shape: shape)
            let params = FloatBuffer(count: layout.count), m = FloatBuffer(count: layout.count), v = FloatBuffer(count: layout.count)
            let info = try CheckpointFile.read(path: checkpoint, layout: layout, params: params, expAvg: m, expAvgSq: v)
            try HuggingFaceBloom.export(layout: layout, params: params, to: outdir)
            print("exported iteration \(info.counters.iteration) of \(checkpoint) to \(outdir)/config.json and \(outdir)/model.safetensors")
        } catch {
            FileHandle.standardError.write(Data("atelier: error: \(error)\n".utf8))
            throw ExitCode(ExitStatus.badInput.rawValue)
        }
    }
}
