import AtelierCore
import AtelierCheckpoint
import AtelierDistributed
import AtelierJob
import AtelierModel
import Foundation

/// What one rank of a job holds in memory, part by part, each part counted by the type that
/// allocates it (`ParameterLayout`, `AdamW`, `Activations`, `TrainStep`, `EmbeddingRowsSum`,
/// `CheckpointWriter`, `SgemmPeak`), plus the runtime's fixed share measured on this machine.
/// `atelier estimate` prints it; `atelier train` refuses a job whose node cannot hold it.
/// Not counted: the data (a bytes job holds its text files in memory; indexed datasets are
/// memory-mapped) and what a resume reads from a checkpoint before it is copied in.
public struct MemoryEstimate: Encodable, Sendable {
    public struct Part: Encodable, Sendable {
        public let name: String
        public let bytes: Int
        public let allocatedBy: String   // the buffers, by their owners' names
        public let fields: [String]      // the job fields that size it
        public let onlyRankZero: Bool    // the checkpoint's buffers: rank 0 saves

        enum CodingKeys: String, CodingKey { case name, bytes, allocatedBy = "allocated_by", fields, onlyRankZero = "only_rank_zero" }
    }

    public let parts: [Part]
    public let worldSize: Int
    public let blasThreads: Int
    public let parameters: Int

    /// The Swift runtime, Foundation and Open MPI, plus OpenBLAS's buffers per thread: peak RSS of
    /// runs minus their counted parts, measured with 1 and 2 BLAS threads on a 2-core x86-64 VM
    /// (docs/benchmarks.md, "Memory per rank").
    public static let runtimeBytes = 22_000_000
    public static let runtimeBytesPerBLASThread = 21_000_000

    static let modelFields = ["model.vocab_size", "model.hidden_size", "model.layers"]

    /// Throws `JobError` naming the field when a size does not fit in 64 bits, and the batch
    /// split's error when the global batch does not split over `worldSize` ranks.
    public init(job: Job, worldSize: Int, blasThreads: Int) throws {
        let shape = job.model, B = job.batch.microBatchSize
        let layout = ParameterLayout(shape: shape)
        let P = layout.count
        let floatBytes = MemoryLayout<Float>.stride
        let accumulation = try job.batch.accumulationSteps(worldSize: worldSize, file: job.sourcePath)
        // ZeRO stage 1: each rank's moments cover its shard only (the largest is rank 0's).
        let shards = TrainStep.shards(job: job, parameters: P, worldSize: worldSize)
        let momentFloats = shards?.largest ?? P
        func tooLarge(_ field: String, _ what: String, _ found: Int) -> JobError {
            .invalid(file: job.sourcePath, field: field, expected: "sizes whose \(what) can be counted in 64 bits", found: "\(found)")
        }
        guard let rows = checkedProduct(B, shape.sequenceLength),
              let activations = Activations.bytes(shape: shape, batch: B, recompute: job.train.recompute) else {
            throw tooLarge("batch.micro_batch_size",
                           "activations (micro_batch_size x seq_length x hidden_size per layer)", B)
        }
        guard let tokens = TrainStep.tokenBufferBytes(rows: rows, accumulation: accumulation) else {
            throw tooLarge("batch.global_batch_size", "token buffers (global_batch_size / ranks x seq_length)", job.batch.globalBatchSize)
        }
        var parts = [
            Part(name: "parameters", bytes: P * floatBytes, allocatedBy: "BloomModel.params", fields: Self.modelFields, onlyRankZero: false),
            Part(name: "gradients", bytes: P * floatBytes, allocatedBy: "BloomModel.grads", fields: Self.modelFields, onlyRankZero: false),
            Part(name: shards == nil ? "optimizer state (Adam m, v)" : "optimizer state (Adam m, v; 1/\(worldSize) shard)",
                 bytes: AdamW.stateFloats(parameters: momentFloats) * floatBytes,
                 allocatedBy: "AdamW.expAvg, AdamW.expAvgSq", fields: Self.modelFields + (shards == nil ? [] : ["distributed.zero_stage"]),
                 onlyRankZero: false),
            Part(name: "activations", bytes: activations, allocatedBy: "Activations (forward's saved tensors, backward's scratch, tokens)",
                 fields: ["batch.micro_batch_size", "model.seq_length", "model.hidden_size", "model.layers", "model.heads", "model.vocab_size", "train.recompute"],
                 onlyRankZero: false),
            Part(name: "micro-batch tokens", bytes: tokens, allocatedBy: "TrainStep's inputs and targets per accumulation step",
                 fields: ["batch.global_batch_size", "batch.micro_batch_size", "model.seq_length"], onlyRankZero: false),
        ]
        if worldSize > 1 {
            guard let rowsSum = EmbeddingRowsSum.maximumBytes(vocab: shape.vocabSize, channels: shape.hiddenSize, ranks: worldSize, rows: rows) else {
                throw tooLarge("model.vocab_size", "embedding rows exchanged between ranks", shape.vocabSize)
            }
            parts.append(Part(name: "embedding rows sum", bytes: rowsSum, allocatedBy: "GradientBuckets' EmbeddingRowsSum (at most)",
                              fields: ["model.vocab_size", "model.hidden_size", "batch.micro_batch_size", "model.seq_length"], onlyRankZero: false))
            parts.append(Part(name: shards == nil ? "all-reduce temporaries" : "reduce temporaries",
                              bytes: GradientBuckets.inFlightBytes(bucketBytes: TrainStep.bucketBytes(job: job, layout: layout), gradientBytes: P * floatBytes),
                              allocatedBy: "Open MPI, per bucket in flight (at most \(GradientBuckets.inFlightBuckets) buckets)",
                              fields: Self.modelFields + ["distributed.bucket_mb"], onlyRankZero: false))
        }
        parts.append(Part(name: "sgemm peak measurement", bytes: SgemmPeak.bytes(), allocatedBy: "SgemmPeak.measure, once before training",
                          fields: [], onlyRankZero: false))
        parts.append(Part(name: "runtime (Swift, MPI, OpenBLAS; measured)",
                          bytes: Self.runtimeBytes + Self.runtimeBytesPerBLASThread * max(1, blasThreads),
                          allocatedBy: "the process, with \(blasThreads) BLAS thread\(blasThreads > 1 ? "s" : "")",
                          fields: ["distributed.blas_threads"], onlyRankZero: false))
        if shards == nil {
            parts.append(Part(name: "checkpoint snapshot (params, m, v)", bytes: CheckpointWriter.snapshotFloats(parameters: P) * floatBytes,
                              allocatedBy: "CheckpointWriter, on rank 0", fields: Self.modelFields, onlyRankZero: true))
        } else {
            parts.append(Part(name: "checkpoint moment windows (m, v)", bytes: MomentWindows.bufferBytes(layout: layout),
                              allocatedBy: "ShardedMoments, on rank 0 while it saves or loads (no snapshot: the save blocks)",
                              fields: ["distributed.zero_stage"], onlyRankZero: true))
        }
        parts.append(Part(name: "checkpoint write buffers", bytes: CheckpointWriter.writeBufferBytes(layout: layout),
                          allocatedBy: "the HDF5 writer's chunk ring, on rank 0 while it saves", fields: ["model.hidden_size"], onlyRankZero: true))
        guard checkedSum(parts.map(\.bytes)) != nil else {
            throw tooLarge("batch.micro_batch_size", "total memory per rank", B)
        }
        self.parts = parts
        self.worldSize = worldSize
        self.blasThreads = blasThreads
        parameters = P
    }

    /// Bytes on every rank.
    public var perRank: Int { parts.filter { !$0.onlyRankZero }.reduce(0) { $0 + $1.bytes } }
    /// Bytes on rank 0, which also saves the checkpoints (a snapshot, or with ZeRO stage 1 the moment windows).
    public var rankZero: Int { parts.reduce(0) { $0 + $1.bytes } }

    /// Bytes the ranks on one node need together; Int.max when that does not even fit in an Int
    /// (a job so large it is refused all the same).
    public func node(ranks: Int, hostsRankZero: Bool) -> Int {
        checkedSum([checkedProduct(perRank, ranks), hostsRankZero ? rankZero - perRank : 0]) ?? Int.max
    }

    /// The part that takes the most memory on a rank.
    public var largest: Part? { parts.filter { !$0.onlyRankZero }.max { $0.bytes < $1.bytes } }

    public var text: String {
        let width = parts.map(\.name.count).max() ?? 0
        var lines = ["memory per rank (fp32, \(worldSize) rank\(worldSize > 1 ? "s" : ""), \(blasThreads) BLAS thread\(blasThreads > 1 ? "s" : "") each, \(parameters) parameters):"]
        for part in parts where !part.onlyRankZero {
            lines.append("  " + part.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                         + Self.format(part.bytes).leftPadded(to: 9) + "  " + part.allocatedBy)
        }
        lines.append("  " + "total per rank".padding(toLength: width, withPad: " ", startingAt: 0) + "  " + Self.format(perRank).leftPadded(to: 9))
        for part in parts where part.onlyRankZero {
            lines.append("  " + ("+ " + part.name).padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                         + Self.format(part.bytes).leftPadded(to: 9) + "  " + part.allocatedBy)
        }
        lines.append("  " + "total on rank 0".padding(toLength: width, withPad: " ", startingAt: 0) + "  " + Self.format(rankZero).leftPadded(to: 9))
        return lines.joined(separator: "\n") + "\n"
    }

    /// Bytes in MB (10^6) below 10 GB, GB above.
    public static func format(_ bytes: Int) -> String {
        let b = Double(bytes)
        return b >= 1e10 ? String(format: "%.1f GB", b / 1e9) : b >= 1e5 ? String(format: "%.1f MB", b / 1e6) : String(format: "%.1f kB", b / 1e3)
    }

    enum CodingKeys: String, CodingKey {
        case parts, worldSize = "world_size", blasThreads = "blas_threads", parameters, perRank = "per_rank_bytes", rankZero = "rank_zero_bytes"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(parts, forKey: .parts)
        try c.encode(worldSize, forKey: .worldSize)
        try c.encode(blasThreads, forKey: .blasThreads)
        try c.encode(parameters, forKey: .parameters)
        try c.encode(perRank, forKey: .perRank)
        try c.encode(rankZero, forKey: .rankZero)
    }
}

extension String {
    func leftPadded(to width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
