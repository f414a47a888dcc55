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

    func run() throws {
        let kernels = BLASRuntime.preferAVX512Kernels()
        var comm: Communicator?
        do {
            let world = try Communicator.world()
            comm = world
            let loaded = try Job.load(path: job, overrides: overrides)
            let topology = try NodeTopology(world: world)
            let threads = loaded.distributed.blasThreads ?? topology.defaultBLASThreads
            BLASRuntime.setThreads(threads)
            let run = TrainingRun(job: loaded, comm: world, topology: topology, say: say)
            if world.rank == 0 {
                say("atelier \(BuildIdentity.version): job '\(loaded.name)' (working group \(loaded.workingGroup)) on \(world.size) rank\(world.size > 1 ? "s" : "")")
                say("\(kernels); \(threads) BLAS thread\(threads > 1 ? "s" : "") per rank (\(topology.coresOnNode) cores, \(topology.localSize) rank\(topology.localSize > 1 ? "s" : "") on this node)")
            }
            let source = try run.prepare()
            try run.run(source: source)
            try world.barrier()
            Communicator.finalize()
        } catch {
            finish(with: error, comm: comm)
        }
    }
}
