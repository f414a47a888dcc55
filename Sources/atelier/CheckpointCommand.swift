import ArgumentParser
import AtelierCheckpoint
import Foundation

struct CheckpointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Look into checkpoint files.",
        subcommands: [Inspect.self, Verify.self])

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show what a checkpoint holds: model, training state, the job that made it, tensors.",
            discussion: "Reads and verifies every dataset (checksums, shapes). Exit code 2 if the file is damaged.")
        @Argument(help: "A checkpoint file, e.g. runs/quickstart/checkpoints/iter_0000300.h5.") var file: String

        func run() throws {
            do {
                print(try CheckpointSummary.verify(path: file).text)
            } catch {
                FileHandle.standardError.write(Data("atelier: error: \(error)\n".utf8))
                throw ExitCode(ExitStatus.badInput.rawValue)
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a checkpoint: format, model shape, every dataset's checksum and shape.",
            discussion: "Exit code 0 when it is sound, 2 when it is not (the error names the dataset).")
        @Argument(help: "A checkpoint file.") var file: String

        func run() throws {
            do {
                let summary = try CheckpointSummary.verify(path: file)
                print("\(file): OK (iteration \(summary.info.counters.iteration), \(summary.tensors.count * 3) tensors verified)")
            } catch {
                FileHandle.standardError.write(Data("atelier: error: \(error)\n".utf8))
                throw ExitCode(ExitStatus.badInput.rawValue)
            }
        }
    }
}
