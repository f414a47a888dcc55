import ArgumentParser
import AtelierDistributed
import AtelierJob
import AtelierModel
import AtelierTrain
import BLAS
import Foundation
import MPI

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure training throughput on the benchmark shape (random tokens).",
        discussion: """
        Trains vocab 32768, hidden 512, 8 layers, 8 heads, sequence 512, micro-batch 4 per rank, fp32,
        for --warmup + --steps iterations, and reports tokens/s, model TFLOP/s per rank, MFU against
        the sgemm peak measured in the same run, and peak RSS against what the model needs.
        `--shape bloom-560m` trains BLOOM-560m's exact shape instead (vocab 250880, hidden 1024,
        24 layers, 16 heads) at sequence 2048, micro-batch 1, with the memory settings of
        jobs/multilinguality/bloom-560m-adapt.toml (train.recompute = "blocks").
        Run it as `mpirun -np 2 atelier bench` for two ranks, or alone for one.
        """)

    /// The shapes `--shape` offers.
    enum Shape: String, ExpressibleByArgument, CaseIterable {
        case bench, bloom560m = "bloom-560m"
    }

    @Option(help: "The model: bench (the benchmark shape) or bloom-560m.") var shape = Shape.bench
    @Option(help: "Timed iterations (default 5; 2 with --shape bloom-560m).") var steps: Int?
    @Option(help: "Untimed iterations first (default 2; 1 with --shape bloom-560m).") var warmup: Int?
    @Flag(help: "Print one JSON object instead of text.") var json = false
    @Flag(help: "Measure checkpoint save and load of the benchmark model instead, against raw disk I/O of the same bytes.")
    var checkpoint = false
    @Option(help: "Where --checkpoint writes its files (removed afterwards).") var dir = "runs/bench-checkpoint"
    @Flag(help: "Measure what overlapping the gradient all-reduce with backward hides, and the bytes each rank sends per step (under mpirun, best on the netns cluster with shaped links: docs/benchmarks.md).")
    var overlap = false
    @Option(help: "With --overlap: rounds of the three modes, in rotating order.") var rounds = 3
    @Flag(help: "Measure greedy generation on BLOOM-560m's shape instead: prefill, time per token with the key/value cache, tokens/s, against a full forward per token (docs/benchmarks.md).")
    var generate = false
    @Option(help: "With --generate: the window of the full-forward anchor (2048 needs about 12 GB more).") var anchorWindow = 256
    @Option(help: "With --generate: a Python with torch and transformers; times transformers' generate() on the same weights and compares the tokens (run from the repository root).")
    var transformers: String?
    @Option(name: .customLong("set"), parsing: .singleValue,
            help: ArgumentHelp("Override a field of the benchmark job (repeatable).", valueName: "key.path=value"))
    var overrides: [String] = []

    var timedSteps: Int { steps ?? (shape == .bench ? 5 : 2) }
    var warmupSteps: Int { warmup ?? (shape == .bench ? 2 : 1) }

    static func jobText(shape: Shape, worldSize: Int, iterations: Int) -> String {
        shape == .bench ? benchJobText(worldSize: worldSize, iterations: iterations) : bloom560mJobText(worldSize: worldSize, iterations: iterations)
    }

    /// BLOOM-560m at its training sequence, with the memory settings its job file uses.
    static func bloom560mJobText(worldSize: Int, iterations: Int) -> String {
        """
        name = "bench-bloom-560m"
        working_group = "benchmarks"
        seed = 1
        [model]
        vocab_size = 250880
        hidden_size = 1024
        layers = 24
        heads = 16
        seq_length = 2048
        [data]
        kind = "random"
        [batch]
        micro_batch_size = 1
        global_batch_size = \(worldSize)
        [optimizer]
        lr = 1e-4
        [train]
        iterations = \(iterations)
        recompute = "blocks"
        """
    }

    static func benchJobText(worldSize: Int, iterations: Int) -> String {
        """
        name = "bench"
        working_group = "benchmarks"
        seed = 1
        [model]
        vocab_size = 32768
        hidden_size = 512
        layers = 8
        heads = 8
        seq_length = 512
        [data]
        kind = "random"
        [batch]
        micro_batch_size = 4
        global_batch_size = \(4 * worldSize)
        [optimizer]
        lr = 1e-4
        [train]
        iterations = \(iterations)
        """
    }

    /// Prints `report` as one JSON object (`--json`, sorted keys) or as text, after `preface`.
    func emit(_ report: some BenchOutput, after preface: String? = nil) throws {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            say(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            if let preface { say(preface) }
            say(report.text)
        }
    }

    func run() throws {
        RankContext.run(loadJob: { world in
            try Job.parse(text: Self.jobText(shape: shape, worldSize: world.size, iterations: warmupSteps + timedSteps), file: "<bench>", overrides: overrides)
        }) { context in
            if generate {
                guard context.comm.rank == 0 else { return .success }
                let bench = GenerateBench(threads: context.blasThreads, anchorWindow: anchorWindow, python: transformers)
                try emit(try bench.measure(), after: context.kernels)
                return .success
            }
            if checkpoint {
                guard context.comm.rank == 0 else { return .success }
                try emit(try CheckpointBench(shape: context.job.model, directory: dir).measure())
                return .success
            }
            if overlap {
                let report = try OverlapBench(job: context.job, comm: context.comm, rounds: rounds, steps: timedSteps).measure()
                guard context.comm.rank == 0 else { return .success }
                try emit(report)
                return .success
            }
            let report = try BenchRun(job: context.job, comm: context.comm, shape: shape.rawValue, warmup: warmupSteps, steps: timedSteps).measure()
            guard context.comm.rank == 0 else { return .success }
            try emit(report, after: context.kernels)
            return .success
        }
    }
}
