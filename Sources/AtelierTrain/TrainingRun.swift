import AtelierData
import AtelierDistributed
import AtelierJob
import AtelierModel
import BLAS
import Foundation
import MPI

/// A whole `atelier train` on this rank: checks that all ranks agree, sets up the run directory,
/// trains for the job's iterations and logs on rank 0.
public final class TrainingRun {
    public let job: Job
    public let comm: Communicator
    public let topology: NodeTopology
    let say: (String) -> Void

    public init(job: Job, comm: Communicator, topology: NodeTopology, say: @escaping (String) -> Void) {
        self.job = job
        self.comm = comm
        self.topology = topology
        self.say = { if comm.rank == 0 { say($0) } }
    }

    /// Everything that can refuse the job before anything is written: batch split, rank agreement, data.
    public func prepare() throws -> TokenSource {
        _ = try job.batch.accumulationSteps(worldSize: comm.size, file: job.sourcePath)
        try RankAgreement.check(job.fingerprint, what: "the job (file plus --set overrides)",
                                advice: "launch every rank with the same job file and the same --set flags", comm: comm)
        try RankAgreement.check(BuildIdentity.fingerprint(), what: "the atelier executable",
                                advice: "install the same build of atelier on every node", comm: comm)
        return try Self.source(for: job)
    }

    static func source(for job: Job) throws -> TokenSource {
        switch job.data.kind {
        case .bytes: return try ByteTextSource(paths: job.data.paths, sequenceLength: job.model.sequenceLength)
        case .random: return RandomTokenSource(vocabSize: job.model.vocabSize, sequenceLength: job.model.sequenceLength, seed: job.seed)
        }
    }

    /// Trains, logging every `train.log_interval` iterations; returns the logged figures.
    @discardableResult
    public func run(source: TokenSource) throws -> [LoggedIteration] {
        let step = try TrainStep(job: job, comm: comm, source: source)
        try RankAgreement.check(step.model.layout.hash(step.model.params), what: "the initial weights",
                                advice: "this is a bug: the same seed must give the same weights on every rank", comm: comm)
        var metrics: MetricsFile?
        if comm.rank == 0 {
            try FileManager.default.createDirectory(atPath: job.runDirectory, withIntermediateDirectories: true)
            try job.canonicalText.write(toFile: job.runDirectory + "/job.toml", atomically: true, encoding: .utf8)
            metrics = try MetricsFile(path: job.runDirectory + "/metrics.jsonl")
        }
        try comm.barrier()
        var peak = [SgemmPeak.measure()]
        try comm.allReduceMax(&peak)   // report the best any rank saw, as the machine's reachable peak
        let shape = job.model
        say("model: \(shape.layers) layers, hidden \(shape.hiddenSize), \(shape.heads) heads, vocab \(shape.vocabSize), sequence \(shape.sequenceLength): \(step.model.layout.count) parameters (\(shape.matmulParameters) in matmuls), \(String(format: "%.1f", shape.flopsPerToken / 1e6)) MFLOP/token")
        say("batch: global \(job.batch.globalBatchSize) = micro \(job.batch.microBatchSize) x \(comm.size) rank\(comm.size > 1 ? "s" : "") x \(step.accumulation) accumulation step\(step.accumulation > 1 ? "s" : ""); \(source.sampleCount) samples per epoch")
        say("sgemm peak measured: \(String(format: "%.1f", peak[0] / 1e9)) GFLOP/s per rank; training \(job.train.iterations) iterations into \(job.runDirectory)")

        var meter = IntervalMeter(job: job, worldSize: comm.size, peakFlopsPerRank: peak[0])
        var logged: [LoggedIteration] = []
        while step.progress.iteration < job.train.iterations {
            let result = try step.step()
            meter.add(result)
            if result.skipped {
                say("iteration \(result.iteration): non-finite loss or gradient (loss \(result.loss), grad norm \(result.gradNorm)); update skipped (\(step.progress.skippedIterations) so far)")
            }
            if result.iteration % job.train.logInterval == 0 || result.iteration == job.train.iterations {
                let entry = meter.flush(last: result, progress: step.progress)
                logged.append(entry)
                say(entry.line)
                try metrics?.append(entry)
            }
        }
        return logged
    }
}
