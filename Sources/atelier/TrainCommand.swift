import ArgumentParser
import AtelierDistributed
import AtelierJob
import AtelierTrain
import BLAS
import MPI

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train the model a job file describes, on every rank of the MPI job.",
        discussion: """
        Every rank reads its own disjoint slice of the data; gradients are averaged with MPI
        all-reduce. Rank 0 logs one line per train.log_interval iterations and writes the same
        figures to RUN_DIR/metrics.jsonl. See docs/job-files.md for the job file's fields.
        """)

    @Argument(help: "The job file (TOML), for example jobs/quickstart/quickstart.toml.")
    var job: String

    @Option(name: .customLong("set"), parsing: .singleValue,
            help: ArgumentHelp("Override a job field, for example --set train.iterations=100 (repeatable).", valueName: "key.path=value"))
    var overrides: [String] = []

    @Flag(help: "Start even if the job's working group has used its whole compute budget (recorded in the ledger).")
    var overBudget = false

    @Flag(help: "Resume even though the job differs from the one the checkpoint was saved under in a field that changes what is trained (seed, model, data, global batch, optimizer, schedule, working group); the changes are recorded in the ledger.")
    var acceptJobChange = false

    @Flag(help: "Start even if the job needs more memory per rank than its node has available (MemAvailable, or the cgroup limit, shared among the node's ranks); see `atelier estimate`.")
    var ignoreMemoryCheck = false

    func run() throws {
        RankContext.run(loadJob: { _ in try Job.load(path: job, overrides: overrides) }) { context in
            let (world, job, topology, threads) = (context.comm, context.job, context.topology, context.blasThreads)
            if world.rank == 0 {
                say("atelier \(BuildIdentity.version): job '\(job.name)' (working group \(job.workingGroup)) on \(world.size) rank\(world.size > 1 ? "s" : "")")
                say("\(context.kernels); \(threads) BLAS thread\(threads > 1 ? "s" : "") per rank (\(topology.coresOnNode) cores, \(topology.localSize) rank\(topology.localSize > 1 ? "s" : "") on this node)")
            }
            let run = TrainingRun(job: job, comm: world, topology: topology, blasThreads: threads, overBudget: overBudget, acceptJobChange: acceptJobChange,
                                  ignoreMemoryCheck: ignoreMemoryCheck, say: say)
            switch try run.run(source: try run.prepare()) {
            case .finished: return .success
            case .stoppedOnSignal: return .stoppedOnSignal
            }
        }
    }
}
