import ArgumentParser
import BLAS
import Foundation
import Glibc

@main
struct Atelier: ParsableCommand {
    /// Refuses to start on a CPU without the vector extensions the kernels were compiled for,
    /// rather than stopping on an illegal instruction halfway through.
    static func main() {
        let missing = BLASRuntime.missingVectorExtensions()
        guard missing.isEmpty else {
            FileHandle.standardError.write(Data("atelier: error: \(BLASRuntime.vectorLevelRefusal(missing: missing))\n".utf8))
            Glibc.exit(2)
        }
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }

    static let configuration = CommandConfiguration(
        commandName: "atelier",
        abstract: "Data-parallel training of BLOOM-style multilingual transformers over MPI.",
        discussion: """
        Launch with mpirun for several ranks (one per core is the usual layout), or alone for one:
          mpirun -np 2 atelier train jobs/quickstart/quickstart.toml
          atelier train jobs/quickstart/quickstart.toml --set train.iterations=50

        Exit codes: 0 done; 1 runtime failure; 2 bad input (job file, --set, data, ranks that
        disagree, a bad cluster profile, a working group over budget, a binary built for a CPU this
        one is not), nothing created on disk;
        3 training diverged (too many skipped iterations); 4 stopped by SIGTERM/SIGUSR1 after a checkpoint;
        5 a collective stalled (a rank did not arrive within distributed.collective_timeout_seconds).
        After 1, 4 or 5, running the same command again resumes from the last checkpoint.
        """,
        subcommands: [TrainCommand.self, ReportCommand.self, LedgerCommand.self, EstimateCommand.self, BenchCommand.self, CheckpointCommand.self,
                      ExportCommand.self, CorpusCommand.self, TokenizerCommand.self, PreprocessCommand.self,
                      GenerateCommand.self, LineageCommand.self])
}
