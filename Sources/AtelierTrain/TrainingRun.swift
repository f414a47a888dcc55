import AtelierAccounting
import AtelierCheckpoint
import AtelierData
import AtelierDistributed
import AtelierJob
import AtelierModel
import AtelierTokenizer
import BLAS
import Foundation
import MPI

/// A whole `atelier train` on this rank: checks that all ranks agree, sets up the run directory,
/// trains for the job's iterations and logs on rank 0.
public final class TrainingRun {
    public let job: Job
    public let comm: Communicator
    public let topology: NodeTopology
    let say: @Sendable (String) -> Void

    let blasThreads: Int
    let overBudget: Bool
    let acceptJobChange: Bool
    let ignoreMemoryCheck: Bool

    public init(job: Job, comm: Communicator, topology: NodeTopology, blasThreads: Int, overBudget: Bool = false,
                acceptJobChange: Bool = false, ignoreMemoryCheck: Bool = false, say: @escaping @Sendable (String) -> Void) {
        self.acceptJobChange = acceptJobChange
        self.ignoreMemoryCheck = ignoreMemoryCheck
        self.job = job
        self.blasThreads = blasThreads
        self.overBudget = overBudget
        self.comm = comm
        self.topology = topology
        self.say = { if comm.rank == 0 { say($0) } }
    }

    /// Everything that can refuse the job before anything is written: batch split, rank agreement,
    /// memory, data.
    public func prepare() throws -> TokenSource {
        _ = try job.batch.accumulationSteps(worldSize: comm.size, file: job.sourcePath)
        try RankAgreement.check(job.fingerprint, what: "the job (file plus --set overrides)",
                                advice: "launch every rank with the same job file and the same --set flags", comm: comm)
        try RankAgreement.check(BuildIdentity.fingerprint(), what: "the atelier executable",
                                advice: "install the same build of atelier on every node", comm: comm)
        try TrainStep.checkMessageSizes(job: job, worldSize: comm.size)
        try checkMemory()
        return try Self.source(for: job)
    }

    /// Refuses the job when a node cannot hold its ranks, before anything large is allocated. Every
    /// rank takes the same decision, from the node with the least room (needed / available).
    func checkMemory() throws {
        let estimate = try MemoryEstimate(job: job, worldSize: comm.size, blasThreads: blasThreads)
        let memory = NodeMemory.current()
        let available = memory?.availableBytes ?? 1 << 62   // unknown (not Linux): no refusal; exact as a Double
        var hosts = [comm.rank == 0 ? 1.0 : 0]
        try topology.node.allReduceMax(&hosts)
        let needed = estimate.node(ranks: topology.localSize, hostsRankZero: hosts[0] > 0)
        let mine = Double(needed) / Double(max(available, 1))
        var worst = [mine]
        try comm.allReduceMax(&worst)
        var figures = mine == worst[0] ? [Double(available), Double(topology.localSize), hosts[0]] : [-1, -1, -1]
        try comm.allReduceMax(&figures)
        let shortfall = MemoryShortfall(estimate: estimate, ranksOnNode: Int(figures[1]), hostsRankZero: figures[2] > 0,
                                        availableBytes: Int(figures[0]),
                                        source: mine == worst[0] ? (memory?.source ?? "unknown") : "on the node with the least room")
        let f = MemoryEstimate.format
        if worst[0] <= 1 {
            say("memory: \(f(estimate.perRank)) per rank (\(f(estimate.rankZero)) on rank 0) x \(topology.localSize) on this node; \(memory.map { "\(f($0.availableBytes)) available (\($0.source))" } ?? "available memory unknown")")
        } else if ignoreMemoryCheck {
            say("memory: starting anyway (--ignore-memory-check): \(shortfall)")
        } else {
            throw shortfall
        }
    }

    static func source(for job: Job) throws -> TokenSource {
        switch job.data.kind {
        case .indexed:
            let tokenizer = try Self.tokenizer(for: job)
            guard tokenizer.vocabularySize <= job.model.vocabSize else {
                throw JobError.invalid(file: job.sourcePath, field: "model.vocab_size",
                                       expected: "at least the tokenizer's \(tokenizer.vocabularySize) tokens (\(job.data.tokenizer ?? ""))",
                                       found: "\(job.model.vocabSize)")
            }
            return try MixtureSource(datasets: job.data.datasets.map { ($0.name, $0.prefix, $0.weight) }, alpha: job.data.alpha,
                                     validationFraction: job.data.validationFraction, sequenceLength: job.model.sequenceLength,
                                     vocabularySize: job.model.vocabSize, seed: job.seed, file: job.sourcePath)
        case .bytes: return try ByteTextSource(paths: job.data.paths, sequenceLength: job.model.sequenceLength)
        case .random: return RandomTokenSource(vocabSize: job.model.vocabSize, sequenceLength: job.model.sequenceLength, seed: job.seed)
        }
    }

    static func tokenizer(for job: Job) throws -> BPETokenizer {
        do { return try BPETokenizer.load(path: job.data.tokenizer ?? "") } catch {
            throw JobError.invalid(file: job.sourcePath, field: "data.tokenizer", expected: "a readable tokenizer.json", found: "\(error)")
        }
    }

    /// How a run ended.
    public enum Outcome: Equatable {
        case finished
        case stoppedOnSignal(iteration: Int)
    }

    /// Trains (resuming from the run directory's newest valid checkpoint, if any), logging every
    /// `train.log_interval` iterations and saving checkpoints as the job says.
    @discardableResult
    public func run(source: TokenSource) throws -> Outcome {
        StopSignal.install()
        if comm.size > 1 { try comm.watchCollectives(timeout: job.distributed.collectiveTimeoutSeconds) }
        let step = try TrainStep(job: job, comm: comm, source: source)
        try RankAgreement.check(step.model.layout.hash(step.model.params), what: "the initial weights",
                                advice: "this is a bug: the same seed must give the same weights on every rank", comm: comm)
        let checkpoints = CheckpointDirectory(runDirectory: job.runDirectory)
        let warn: @Sendable (String) -> Void = { FileHandle.standardError.write(Data(("atelier: " + $0 + "\n").utf8)) }
        // The profile and the budget can refuse the job: before anything is written.
        let isRankZero = comm.rank == 0
        let accounting = try JobAccounting(job: job, comm: comm, topology: topology, blasThreads: blasThreads,
                                           languages: source.componentNames, warn: { message in if isRankZero { warn(message) } })
        try accounting.checkBudget(overBudget: overBudget, say: say)
        let carried = try Resume.load(into: step, directory: checkpoints, comm: comm, acceptJobChange: acceptJobChange,
                                            accepted: { accounting.note("job-change", message: "resumed with --accept-job-change: " + $0.map(\.description).joined(separator: "; ")) },
                                            say: say, warn: warn)
        let resumed = carried != nil
        // The models this one starts from: read from init_from on a new run, carried by the checkpoint on a resume.
        var ancestors = carried?.ancestors ?? job.initFrom.map { [Lineage.unknown($0)] } ?? []
        if !resumed, let path = job.initFrom {
            ancestors = [try Resume.initialize(step, from: path, comm: comm, say: say, warn: warn)]
        }
        newestValidation = carried?.validation
        if step.progress.iteration >= job.train.iterations {
            say("nothing to do: the run is at iteration \(step.progress.iteration) of \(job.train.iterations); raise train.iterations to train further")
            return .finished
        }
        var metrics: RunMetrics?
        if comm.rank == 0 {
            try FileManager.default.createDirectory(atPath: job.runDirectory, withIntermediateDirectories: true)
            try job.canonicalText.write(toFile: job.runDirectory + "/job.toml", atomically: true, encoding: .utf8)
            metrics = try RunMetrics(runDirectory: job.runDirectory, resumedAt: resumed ? step.progress.iteration : nil, say: say, warn: warn)
        }
        try comm.barrier()
        var peak = [SgemmPeak.measure()]
        try comm.allReduceMax(&peak)   // report the best any rank saw, as the machine's reachable peak
        let shape = job.model
        say("model: \(shape.layers) layers, hidden \(shape.hiddenSize), \(shape.heads) heads, vocab \(shape.vocabSize), sequence \(shape.sequenceLength): \(step.model.layout.count) parameters (\(shape.matmulParameters) in matmuls), \(String(format: "%.1f", shape.flopsPerToken / 1e6)) MFLOP/token")
        say("batch: global \(job.batch.globalBatchSize) = micro \(job.batch.microBatchSize) x \(comm.size) rank\(comm.size > 1 ? "s" : "") x \(step.accumulation) accumulation step\(step.accumulation > 1 ? "s" : ""); \(source.sampleCount) samples per epoch")
        say("sgemm peak measured: \(String(format: "%.1f", peak[0] / 1e9)) GFLOP/s per rank; training to iteration \(job.train.iterations) into \(job.runDirectory)")
        accounting.peakPerRank = peak[0]
        try accounting.begin(iteration: step.progress.iteration, resumed: carried?.totals ?? AccountingTotals(), say: say)
        if comm.rank == 0 {
            lineage = accounting.lineage(ancestors: ancestors,
                                         mixture: (source as? MixtureSource)?.components.map { MixtureShare(name: $0.name, share: $0.weight) })
        }
        do {
            let outcome = try train(step, checkpoints: checkpoints, metrics: metrics, peak: peak[0], accounting: accounting,
                                    validation: source as? MixtureSource)
            say(accounting.summary)
            switch outcome {
            case .finished: accounting.end(.finished, reason: "reached iteration \(job.train.iterations)")
            case .stoppedOnSignal(let i): accounting.end(.stopped, reason: "stopped by a signal at iteration \(i)")
            }
            return outcome
        } catch let stall as CollectiveStall {
            // Rank 0 records it if it is still answering; otherwise the rank that reports it does.
            if comm.rank == 0 {
                accounting.event("stall", message: stall.description)
                accounting.end(.failed, reason: "\(stall)", ending: .stall)
            } else if comm.rank == stall.reporter {
                accounting.recordWithoutRankZero(event: "stall", status: .failed, ending: .stall, reason: stall.description)
            }
            throw stall
        } catch {
            accounting.end(.failed, reason: "\(error)")
            throw error
        }
    }

    func train(_ step: TrainStep, checkpoints: CheckpointDirectory, metrics: RunMetrics?, peak: Double,
               accounting: JobAccounting, validation: MixtureSource?) throws -> Outcome {
        let writer = comm.rank == 0 && step.shards == nil ? try CheckpointWriter(directory: checkpoints, layout: step.model.layout) : nil
        var meter = IntervalMeter(job: job, worldSize: comm.size, peakFlopsPerRank: peak)
        var clock = SaveClock(minutes: job.checkpoint.intervalMinutes, decides: comm.rank == 0)
        accounting.trainingStarts()
        while step.progress.iteration < job.train.iterations {
            let result = try step.step(flags: { IterationFlags(stop: StopSignal.requested, saveTimeDue: clock.isDue, accountingDue: accounting.isDue).values })
            meter.add(result)
            accounting.add(result)
            try log(result, step: step, meter: &meter, metrics: metrics)
            let evaluated = validation != nil && evaluationDue(at: result.iteration)
            if let validation, evaluated {
                try evaluate(step, on: validation, at: result.iteration, metrics: metrics, accounting: accounting)
            }
            let flags = IterationFlags(summed: result.flags)
            try endIteration(step, result: result, flags: flags, evaluated: evaluated, writer: writer, directory: checkpoints,
                             accounting: accounting, metrics: metrics, clock: &clock)
            if flags.stop {
                say("stopped by a signal at iteration \(result.iteration) after saving a checkpoint; run the same command to resume")
                return .stoppedOnSignal(iteration: result.iteration)
            }
        }
        return .finished
    }

    /// The log line and metrics record every train.log_interval iterations (and at the end), and a
    /// word about a skipped update.
    func log(_ result: StepResult, step: TrainStep, meter: inout IntervalMeter, metrics: RunMetrics?) throws {
        if result.skipped {
            say("iteration \(result.iteration): non-finite loss or gradient (loss \(result.loss), grad norm \(result.gradNorm)); update skipped (\(step.progress.skippedIterations) so far)")
        }
        if result.iteration % job.train.logInterval == 0 || result.iteration == job.train.iterations {
            let entry = meter.flush(last: result, progress: step.progress)
            say(entry.line)
            try metrics?.append(entry)
        }
    }

    /// Rank 0: what every checkpoint carries besides the totals: the model's lineage node (who
    /// trains it, where, from which models) and its newest validation.
    private var lineage: Lineage?
    private var newestValidation: NewestValidation?
    var carriedTexts: CarriedTexts {
        CarriedTexts(lineage: lineage.map(CheckpointLineage.stored), validation: newestValidation?.json)
    }

    /// The bytes each token stands for (bits per byte), read from the tokenizer at the first evaluation.
    private var tokenByteCounts: [Int]?
    func tokenBytes() throws -> [Int] {
        if let tokenByteCounts { return tokenByteCounts }
        let counts = try Self.tokenizer(for: job).tokens.map(\.count)
        tokenByteCounts = counts
        return counts
    }

    func evaluationDue(at iteration: Int) -> Bool {
        job.train.evalInterval > 0 && (iteration % job.train.evalInterval == 0 || iteration == job.train.iterations)
    }

    /// Validation loss and bits per byte per dataset: logged, written to metrics.jsonl and the ledger.
    func evaluate(_ step: TrainStep, on mixture: MixtureSource, at iteration: Int, metrics: RunMetrics?, accounting: JobAccounting) throws {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { accounting.evaluated(since: start) }
        let results = try step.evaluate(mixture, samples: job.train.evalSamples, tokenBytes: try tokenBytes())
        say("validation at iteration \(iteration): " + results.map {
            String(format: "%@ loss %.3f bpb %.3f", $0.name, $0.loss, $0.bitsPerByte) }.joined(separator: " | "))
        let diverged = results.filter { !$0.loss.isFinite || !$0.bitsPerByte.isFinite }.map(\.name)
        if !diverged.isEmpty {
            say("warning: validation at iteration \(iteration) is not finite for \(diverged.joined(separator: ", ")): written to metrics.jsonl as \"nan\", not stored in the ledger")
        }
        try metrics?.append(iteration: iteration, validation: results)
        if comm.rank == 0 {
            newestValidation = NewestValidation(iteration: iteration, results: results.map {
                ValidationRecord(dataset: $0.name, loss: $0.loss, bitsPerByte: $0.bitsPerByte) })
        }
        accounting.record(iteration: iteration, validation: results)
    }

    /// The bookkeeping every iteration ends with, as all ranks agreed in the step's collective: a
    /// failed background save ends the run now; an accounting interval closes before every save
    /// (so the checkpoint's totals end on a ledger record and a metrics record) and after every
    /// evaluation (so the energy between two evaluations is a sum of whole intervals); then the
    /// save, by iteration count, time, signal or the end.
    func endIteration(_ step: TrainStep, result: StepResult, flags: IterationFlags, evaluated: Bool = false, writer: CheckpointWriter?,
                      directory: CheckpointDirectory, accounting: JobAccounting, metrics: RunMetrics?, clock: inout SaveClock) throws {
        if writer?.hasFailed == true { try writer?.finish() }
        let interval = job.checkpoint.intervalIterations
        let saving = flags.stop || flags.saveTimeDue || (interval > 0 && result.iteration % interval == 0)
            || result.iteration == job.train.iterations
        if saving || flags.accountingDue || evaluated {
            try accounting.close(iteration: result.iteration)
            try metrics?.append(iteration: result.iteration, accounting: accounting.totals)
        }
        if saving {
            let start = DispatchTime.now().uptimeNanoseconds
            try save(step, with: writer, directory: directory, totals: accounting.totals)
            accounting.saved(since: start)
            clock.restart()
        }
        if flags.stop || step.progress.iteration == job.train.iterations { try writer?.finish() }
    }

    /// Rank 0 snapshots the state and writes it in the background (every rank holds the same
    /// state); the other ranks go straight on. With ZeRO stage 1 every rank takes part in a
    /// streamed save that blocks until the file is written.
    func save(_ step: TrainStep, with writer: CheckpointWriter?, directory: CheckpointDirectory, totals: AccountingTotals) throws {
        let say = self.say
        if let shards = step.shards {
            let start = DispatchTime.now().uptimeNanoseconds
            let path = try ShardedMoments.save(step, shards: shards, directory: directory, comm: comm, jobText: job.canonicalText,
                                               programVersion: BuildIdentity.version, keepLast: job.checkpoint.keepLast,
                                               keepEvery: job.checkpoint.keepEvery, accounting: NamedNumbers(names: AccountingTotals.fieldNames, values: totals.values),
                                               carried: carriedTexts)
            if let path {
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                say("saved checkpoint \(path) (iteration \(step.progress.iteration)): training blocked \(String(format: "%.3f", seconds)) s, streamed from \(comm.size) shards (parameter hash \(String(step.model.layout.hash(step.model.params), radix: 16)))")
            }
            return
        }
        guard let writer else { return }
        try writer.save(params: step.model.params, expAvg: step.optimizer.expAvg, expAvgSq: step.optimizer.expAvgSq,
                        counters: step.progress, jobText: job.canonicalText, worldSize: comm.size,
                        programVersion: BuildIdentity.version, keepLast: job.checkpoint.keepLast,
                        keepEvery: job.checkpoint.keepEvery, accounting: NamedNumbers(names: AccountingTotals.fieldNames, values: totals.values),
                        carried: carriedTexts, beforeClose: { [iteration = step.progress.iteration] in FaultInjection.reached(.save, iteration: iteration) }) { saved in
            say("saved checkpoint \(saved.path) (iteration \(saved.iteration)): training blocked \(String(format: "%.3f", saved.blockedSeconds)) s, written in \(String(format: "%.2f", saved.writeSeconds)) s in the background (parameter hash \(String(saved.parameterHash, radix: 16)))")
        }
    }
}
