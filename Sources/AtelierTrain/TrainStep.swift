import AtelierCore
import AtelierCheckpoint
import AtelierData
import AtelierDistributed
import AtelierJob
import AtelierModel
import Foundation
import MPI

/// What one optimizer step did.
public struct StepResult: Sendable {
    public let iteration: Int          // 1-based, after this step
    public let loss: Double            // mean over the global batch's targets (nats)
    public let gradNorm: Double        // global L2 norm before clipping
    public let lr: Double
    public let skipped: Bool           // non-finite loss or gradient: no update
    public let seconds: Double
    /// Where `seconds` went on this rank.
    public var phases = StepPhases()
    /// The run's end-of-iteration flags, summed over the ranks (`step(flags:)`); empty without.
    public var flags: [Double] = []
    /// This rank's samples of each of the source's datasets (languages) in this step; empty when
    /// the source is not a mixture.
    public var samplesPerComponent: [Int] = []
}

public enum TrainingError: Error, CustomStringConvertible {
    case tooManySkips(count: Int, iteration: Int)
    public var description: String {
        switch self {
        case .tooManySkips(let count, let iteration):
            return "aborting at iteration \(iteration): \(count) consecutive iterations had a non-finite loss or gradient and were skipped; lower optimizer.lr, raise schedule.warmup_samples or check the data"
        }
    }
}

/// One data-parallel optimizer step on this rank: accumulate micro-batches, sum the gradients in
/// buckets during the last backward, clip by global norm, AdamW. With ZeRO stage 1 on 2 or more
/// ranks (`shards`), the buckets are reduced to the ranks that own them, each rank updates its
/// shard, and the parameters are all-gathered after the update.
public final class TrainStep {
    public let job: Job
    public let model: BloomModel
    public let optimizer: AdamW
    public let schedule: LearningRateSchedule
    public let loader: BatchLoader
    public let accumulation: Int
    public var progress = TrainingCounters()
    let comm: Communicator
    public let buckets: GradientBuckets?
    public let shards: ParameterShards?      // ZeRO stage 1 on 2 or more ranks; nil: every rank updates everything
    private let gatherLayout: [Int32]        // [2 x ranks]: each shard's count, then its offset
    let acts: Activations
    private var microTokens: [[Int32]] = []
    private var microTargets: [[Int32]] = []

    public init(job: Job, comm: Communicator, source: TokenSource) throws {
        self.job = job
        self.comm = comm
        accumulation = try job.batch.accumulationSteps(worldSize: comm.size, file: job.sourcePath)
        // The buffers that can throw `AllocationFailed` come first: the moments (2 x the shard)
        // and the activations; BloomModel's parameters and gradients are allocated after them.
        let layout = ParameterLayout(shape: job.model)
        shards = Self.shards(job: job, parameters: layout.count, worldSize: comm.size)
        optimizer = try AdamW(layout: layout, settings: job.optimizer, shard: shards?.range(of: comm.rank))
        gatherLayout = shards.map { s in (0..<s.ranks).map { Int32(s.range(of: $0).count) } + (0..<s.ranks).map { Int32(s.range(of: $0).lowerBound) } } ?? []
        acts = try Activations.allocate(shape: job.model, batch: job.batch.microBatchSize, recompute: job.train.recompute)
        model = try BloomModel.allocate(shape: job.model)
        model.layout.initialize(model.params, seed: job.seed)
        schedule = LearningRateSchedule(optimizer: job.optimizer, schedule: job.schedule)
        let slice = RankSlice(rank: comm.rank, worldSize: comm.size, globalBatchSize: job.batch.globalBatchSize,
                              microBatchSize: job.batch.microBatchSize)
        loader = BatchLoader(source: source, seed: job.seed, slice: slice, sequenceLength: job.model.sequenceLength)
        buckets = comm.size > 1
            ? GradientBuckets(layout: model.layout, grads: model.grads, comm: comm, bucketBytes: Self.bucketBytes(job: job, layout: model.layout),
                              shards: shards)
            : nil
        buckets?.mode = job.distributed.overlap ? .overlapped : .afterBackward
        let n = acts.rows
        microTokens = Array(repeating: [Int32](repeating: 0, count: n), count: accumulation)
        microTargets = microTokens
    }

    /// The shards of ZeRO stage 1 (`distributed.zero_stage = 1` on 2 or more ranks), else nil.
    public static func shards(job: Job, parameters: Int, worldSize: Int) -> ParameterShards? {
        job.distributed.zeroStage == 1 && worldSize > 1 ? ParameterShards(parameters: parameters, ranks: worldSize) : nil
    }

    /// The all-reduce bucket size: distributed.bucket_mb (at most 1024 MiB), or automatic.
    public static func bucketBytes(job: Job, layout: ParameterLayout) -> Int {
        job.distributed.bucketMegabytes.map { Int($0 * 1_048_576) }
            ?? GradientBuckets.automaticBucketBytes(gradientBytes: layout.count * MemoryLayout<Float>.stride)
    }

    /// Refuses, naming the field, a job whose embedding rows or parameter shards would not fit in
    /// one MPI message (2^31-1 elements) on `worldSize` ranks.
    public static func checkMessageSizes(job: Job, worldSize: Int) throws {
        guard worldSize > 1 else { return }
        let layout = ParameterLayout(shape: job.model), limit = Int(Int32.max)
        // Gradient buckets are at most distributed.bucket_mb (<= 1024 MiB): units larger are cut into pieces.
        let rows = job.batch.microBatchSize * job.model.sequenceLength
        let lookup = EmbeddingRowsSum.largestMessageFloats(vocab: job.model.vocabSize, channels: job.model.hiddenSize, ranks: worldSize, rows: rows)
        if (lookup ?? Int.max) > limit {
            throw JobError.invalid(file: job.sourcePath, field: "batch.micro_batch_size",
                                   expected: "embedding rows that fit in one MPI message (2^31-1 floats): up to min(vocab_size, ranks x micro_batch_size x seq_length) x hidden_size",
                                   found: "\(job.batch.microBatchSize)")
        }
        // The parameters' all-gather addresses every shard by an Int32 offset.
        if shards(job: job, parameters: layout.count, worldSize: worldSize) != nil && layout.count > limit {
            throw JobError.invalid(file: job.sourcePath, field: "distributed.zero_stage",
                                   expected: "0 for a model of 2^31 parameters or more (the sharded all-gather addresses them with 32-bit offsets)",
                                   found: "1 (\(layout.count) parameters)")
        }
    }

    /// Bytes of the step's own token buffers: inputs and targets [N] Int32 for each of the
    /// `accumulation` micro-batches of a step (what `init` allocates).
    public static func tokenBufferBytes(rows: Int, accumulation: Int) -> Int? {
        checkedProduct(2, accumulation, rows, MemoryLayout<Int32>.stride)
    }

    /// Continues from a checkpoint's counters (parameters and moments are loaded separately).
    public func restore(_ counters: TrainingCounters) {
        progress = counters
        optimizer.restore(step: counters.optimizerStep)
    }

    /// Runs iteration `progress.iteration + 1`. `flags` (the run's stop, save and accounting
    /// flags, read once backward is done) travel in the step's one collective with the loss and
    /// the gradient norm; the result carries their sums over the ranks.
    public func step(flags: () -> [Double] = { [] }) throws -> StepResult {
        var clock = PhaseClock()
        let stepStart = progress.consumedSamples
        // This step's micro-batches. Every source fills whole windows (T + 1 tokens, no padding), so
        // the global batch always has global_batch_size x T targets: the mean loss needs no collective.
        for m in 0..<accumulation {
            try microTokens[m].withUnsafeMutableBufferPointer { tok in
                try microTargets[m].withUnsafeMutableBufferPointer { tgt in
                    try loader.load(stepStart: stepStart, micro: m, inputs: tok.baseAddress!, targets: tgt.baseAddress!)
                }
            }
        }
        var samplesPerComponent = [Int](repeating: 0, count: loader.source.componentNames.count)
        for m in 0..<accumulation { loader.countComponents(stepStart: stepStart, micro: m, into: &samplesPerComponent) }
        let targets = Double(job.batch.globalBatchSize * job.model.sequenceLength)
        let scale = Float(1 / targets)
        clock.charge(.data)

        model.grads.zero()
        clock.charge(.zeroGradients)
        var lossSum = 0.0
        let iteration = progress.iteration + 1
        FaultInjection.reached(.forward, iteration: iteration)
        for m in 0..<accumulation {
            acts.tokens = microTokens[m]
            acts.targets = microTargets[m]
            model.forward(acts)
            clock.charge(.forward)
            lossSum += model.loss(acts, gradientScale: scale).loss
            clock.charge(.loss)
            let last = m == accumulation - 1
            if last { buckets?.begin(tokens: microTokens[m]) }
            let observer: GradientObserver? = last ? buckets : nil
            model.backward(acts, observer: last && FaultInjection.armed(.backward) ? FaultAtFirstGradient(observer, iteration: iteration) : observer)
            clock.charge(.backward)
        }
        FaultInjection.reached(.allreduce, iteration: iteration)
        try buckets?.finish()
        clock.charge(.gradientWait)
        // The global norm from each rank's shard's sum of squares (the shards of ZeRO stage 1 even
        // at stage 0, so both stages compute it alike), summed with the loss and the run's flags in
        // the step's one all-reduce: every rank gets the same norm and takes the same decisions.
        let normShard = comm.size > 1 ? ParameterShards(parameters: model.layout.count, ranks: comm.size).range(of: comm.rank)
                                      : 0..<model.layout.count
        var totals = [lossSum, sumOfSquares(model.grads.base + normShard.lowerBound, normShard.count)] + flags()
        if comm.size > 1 { try comm.allReduceSum(&totals) }
        let loss = totals[0] / targets
        let gradNorm = totals[1].squareRoot()
        progress.consumedSamples += job.batch.globalBatchSize
        progress.consumedTokens += job.batch.globalBatchSize * job.model.sequenceLength
        progress.iteration += 1
        let lr = schedule.lr(consumedSamples: progress.consumedSamples)
        let skipped = !loss.isFinite || !gradNorm.isFinite
        clock.charge(.norm)
        if skipped {
            progress.skippedIterations += 1
            progress.consecutiveSkips += 1
            if progress.consecutiveSkips >= job.train.maxConsecutiveSkips {
                throw TrainingError.tooManySkips(count: progress.consecutiveSkips, iteration: progress.iteration)
            }
        } else {
            progress.consecutiveSkips = 0
            let clip = job.optimizer.clipGrad
            let gradScale: Float = (clip > 0 && gradNorm > clip) ? Float(clip / (gradNorm + 1e-6)) : 1
            optimizer.update(params: model.params, grads: model.grads, lr: lr, gradScale: gradScale)
            progress.optimizerStep = optimizer.step
            clock.charge(.optimizer)
            // Compute-only benchmarks (`.skipped`) send nothing, the parameters' gather included.
            if buckets?.mode != .skipped { try gatherParameters() }
            clock.charge(.parameterGather)
        }
        return StepResult(iteration: progress.iteration, loss: loss, gradNorm: gradNorm, lr: lr, skipped: skipped, seconds: clock.phases.total,
                          phases: clock.phases, flags: Array(totals.dropFirst(2)), samplesPerComponent: samplesPerComponent)
    }
}

extension TrainStep {
    /// ZeRO stage 1: every rank's updated shard to every rank (one in-place MPI_Iallgatherv), so
    /// all ranks hold the same parameters for the next forward.
    func gatherParameters() throws {
        guard let shards else { return }
        try gatherLayout.withUnsafeBufferPointer { layout in
            var request = [try comm.startAllGatherInPlace(model.params.base, counts: layout.baseAddress!,
                                                          offsets: layout.baseAddress! + shards.ranks)]
            try comm.waitAll(&request, operation: "parameter all-gather")
        }
    }
}

/// Validation loss of one dataset of a mixture.
public struct ValidationResult: Sendable {
    public let name: String
    public let loss: Double          // mean over target tokens, nats
    public let bitsPerByte: Double   // loss summed / (ln 2 x the bytes those targets stand for)
    public let tokens: Int
    public init(name: String, loss: Double, bitsPerByte: Double, tokens: Int) {
        (self.name, self.loss, self.bitsPerByte, self.tokens) = (name, loss, bitsPerByte, tokens)
    }
}

extension TrainStep {
    /// Loss on the first `samples` held-out windows of every dataset, shared out over the ranks
    /// (window w on rank w mod size) and summed with one all-reduce. Collective; changes no weights.
    public func evaluate(_ source: MixtureSource, samples: Int, tokenBytes: [Int]) throws -> [ValidationResult] {
        let T = job.model.sequenceLength, B = acts.batch
        var sums = [Double](repeating: 0, count: 3 * source.components.count)   // loss, tokens, bytes
        var inputs = [Int32](repeating: 0, count: T), targets = [Int32](repeating: 0, count: T)
        for (c, component) in source.components.enumerated() {
            let mine = Array(stride(from: comm.rank, to: min(samples, component.validationWindows), by: comm.size))
            for batchStart in stride(from: 0, to: mine.count, by: B) {
                for b in 0..<B {
                    if batchStart + b < mine.count {
                        try source.fillValidation(component: c, window: mine[batchStart + b], inputs: &inputs, targets: &targets)
                        for t in 0..<T {
                            acts.tokens[b * T + t] = inputs[t]
                            acts.targets[b * T + t] = targets[t]
                            let id = Int(targets[t])
                            sums[3 * c + 2] += Double(id < tokenBytes.count ? tokenBytes[id] : 0)
                        }
                    } else {
                        for t in 0..<T { acts.tokens[b * T + t] = 0; acts.targets[b * T + t] = CrossEntropy.ignoreIndex }
                    }
                }
                model.forward(acts)
                let (loss, count) = model.loss(acts, gradientScale: nil)
                sums[3 * c] += loss
                sums[3 * c + 1] += Double(count)
            }
        }
        if comm.size > 1 { try comm.allReduceSum(&sums) }
        return source.components.enumerated().map { c, component in
            let (loss, tokens, bytes) = (sums[3 * c], sums[3 * c + 1], sums[3 * c + 2])
            return ValidationResult(name: component.name, loss: tokens > 0 ? loss / tokens : .nan,
                                    bitsPerByte: bytes > 0 ? loss / (log(2) * bytes) : .nan, tokens: Int(tokens))
        }
    }
}

/// Forwards to the gradient buckets (if any), and injects the planned `backward` fault once the
/// first gradients of the step are final.
final class FaultAtFirstGradient: GradientObserver {
    let inner: GradientObserver?
    let iteration: Int
    var fired = false
    init(_ inner: GradientObserver?, iteration: Int) { (self.inner, self.iteration) = (inner, iteration) }
    func gradientsReady(_ range: Range<Int>) {
        inner?.gradientsReady(range)
        if !fired { fired = true; FaultInjection.reached(.backward, iteration: iteration) }
    }
    func progress() { inner?.progress() }
    var takesEmbeddingLookup: Bool { inner?.takesEmbeddingLookup ?? false }
    func embeddingLookup(dout: UnsafePointer<Float>, tokens: UnsafePointer<Int32>, rows: Int, channels: Int) {
        inner?.embeddingLookup(dout: dout, tokens: tokens, rows: rows, channels: channels)
    }
}
