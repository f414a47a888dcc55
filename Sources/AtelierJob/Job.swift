import AtelierCore
import Foundation

/// A training job: everything a run needs, read from a TOML job file plus `--set` overrides.
/// Field names and defaults are documented in docs/job-files.md.
public struct Job: Sendable {
    public var name: String
    public var workingGroup: String
    public var seed: UInt64
    public var runDirectory: String
    public var model: ModelShape
    /// Another run's checkpoint file, or a Hugging Face BLOOM directory (config.json +
    /// model.safetensors), to start from instead of a fresh initialisation (continued pretraining);
    /// the model's lineage starts from it. Ignored once the run has checkpoints.
    public var initFrom: String?
    public var data: DataSource
    public var batch: BatchSizes
    public var optimizer: OptimizerSettings
    public var schedule: ScheduleSettings
    public var train: TrainSettings
    public var distributed: DistributedSettings
    public var checkpoint: CheckpointSettings
    public var accounting: AccountingSettings

    /// The resolved job (file plus overrides) as canonical TOML: what ranks compare and what is stored.
    public var canonicalText: String
    /// Where the job came from (for messages).
    public var sourcePath: String

    /// A hash of the canonical text (`fingerprint64`): equal on every rank that runs the same job.
    public var fingerprint: UInt64 { fingerprint64(Array(canonicalText.utf8)) }
}

public struct DataSource: Equatable, Sendable {
    public enum Kind: String, Sendable {
        case bytes, random, indexed
        /// Byte-level data's ids: 256 bytes, then <s>, </s>, <pad>, <unk> (AtelierData's ByteVocabulary).
        public static let bytesMinimumVocabulary = 260
    }
    /// `bytes`: UTF-8 text files read as bytes (vocabulary 256 bytes + specials);
    /// `random`: uniformly random tokens (benchmarks only);
    /// `indexed`: a mixture of Megatron indexed datasets tokenized with `tokenizer`.
    public var kind: Kind
    public var paths: [String]
    public var tokenizer: String? = nil
    public var datasets: [DatasetEntry] = []
    public var alpha: Double? = nil
    public var validationFraction: Double = 0
}

/// One dataset of a mixture: its name (a language, say), its indexed-dataset prefix, its weight.
public struct DatasetEntry: Equatable, Sendable {
    public var name: String
    public var prefix: String
    public var weight: Double?
    public init(name: String, prefix: String, weight: Double?) { (self.name, self.prefix, self.weight) = (name, prefix, weight) }
}

public struct BatchSizes: Equatable, Sendable {
    public var microBatchSize: Int   // sequences per rank per forward/backward
    public var globalBatchSize: Int  // sequences per optimizer step, over all ranks

    /// Micro-batches each rank accumulates per step on `worldSize` ranks, or an error naming the field.
    public func accumulationSteps(worldSize: Int, file: String) throws -> Int {
        let perStep = microBatchSize * worldSize
        guard globalBatchSize % perStep == 0 else {
            throw JobError.invalid(file: file, field: "batch.global_batch_size",
                                   expected: "a multiple of micro_batch_size x ranks = \(microBatchSize) x \(worldSize) = \(perStep)",
                                   found: "\(globalBatchSize)")
        }
        return globalBatchSize / perStep
    }
}

public struct OptimizerSettings: Equatable, Sendable {
    public var lr: Double
    public var minLR: Double
    public var beta1: Double
    public var beta2: Double
    public var eps: Double
    public var weightDecay: Double
    public var clipGrad: Double   // global-norm clipping threshold; 0 disables

    public init(lr: Double, minLR: Double, beta1: Double, beta2: Double, eps: Double, weightDecay: Double, clipGrad: Double) {
        self.lr = lr; self.minLR = minLR; self.beta1 = beta1; self.beta2 = beta2
        self.eps = eps; self.weightDecay = weightDecay; self.clipGrad = clipGrad
    }
}

public struct ScheduleSettings: Equatable, Sendable {
    public var warmupSamples: Int
    public var decaySamples: Int

    public init(warmupSamples: Int, decaySamples: Int) {
        self.warmupSamples = warmupSamples
        self.decaySamples = decaySamples
    }
}

public struct TrainSettings: Equatable, Sendable {
    public var iterations: Int
    public var logInterval: Int
    public var maxConsecutiveSkips: Int
    public var evalInterval = 0          // validation every this many iterations (and at the end); 0: never
    public var evalSamples = 16          // validation windows per dataset
    public var recompute = Recompute.none
}


public struct DistributedSettings: Equatable, Sendable {
    /// All-reduce bucket size in MiB; nil = automatic (GradientBuckets.automaticBucketBytes).
    public var bucketMegabytes: Double?
    /// BLAS threads per rank; nil = cores per node / ranks on that node.
    public var blasThreads: Int?
    /// A collective that has not completed after this many seconds ends the job, naming the
    /// ranks that did not arrive (exit code 5).
    public var collectiveTimeoutSeconds: Double = 600
    /// All-reduce each gradient bucket during backward as soon as it is complete (true), or all
    /// of them after backward (false: slower; for comparison and debugging).
    public var overlap = true
    /// ZeRO stage: 0 every rank holds the whole Adam state and all-reduces the gradients; 1 each
    /// rank owns one shard of the parameters, reduces the gradients to their owners, updates its
    /// shard and all-gathers the parameters (docs/job-files.md). No effect on 1 rank.
    public var zeroStage = 1
}

public struct CheckpointSettings: Equatable, Sendable {
    public var intervalIterations: Int   // save every this many iterations; 0: only at the end and on a signal
    public var intervalMinutes: Double   // and/or every this many minutes; 0: off
    public var keepLast: Int             // retention: the newest K checkpoints
    public var keepEvery: Int            // and those at multiples of M iterations; 0: none
}

public struct AccountingSettings: Equatable, Sendable {
    public var clusterProfile: String?   // nil: cluster/local.toml, looked for from here and up from the job file
    public var ledger: String            // the site's ledger: an SQLite path or a postgresql:// URL (no password)
    public var intervalSeconds: Double   // accounting interval (and ledger record) length
}
