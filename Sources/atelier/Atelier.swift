import ArgumentParser

@main
struct Atelier: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "atelier",
        abstract: "Data-parallel training of BLOOM-style multilingual transformers over MPI.",
        discussion: """
        Launch with mpirun for several ranks (one per core is the usual layout), or alone for one:
          mpirun -np 2 atelier train jobs/quickstart/quickstart.toml
          atelier train jobs/quickstart/quickstart.toml --set train.iterations=50

        Exit codes: 0 done; 1 runtime failure; 2 bad input (job file, --set, data, ranks that
        disagree, a bad cluster profile, a working group over budget), nothing created on disk;
        3 training diverged (too many skipped iterations); 4 stopped by SIGTERM/SIGUSR1 after a checkpoint;
        5 a collective stalled (a rank did not arrive within distributed.collective_timeout_seconds).
        After 1, 4 or 5, running the same command again resumes from the last checkpoint.
        """,
        subcommands: [TrainCommand.self, ReportCommand.self, EstimateCommand.self, BenchCommand.self, CheckpointCommand.self,
                      ExportCommand.self, CorpusCommand.self, TokenizerCommand.self, PreprocessCommand.self,
                      GenerateCommand.self])
}
