import AtelierCheckpoint
import AtelierDistributed
import AtelierJob
import AtelierModel
import AtelierTrain
import XCTest

/// The memory model against formulas written out here from BLOOM's layout, and against the
/// buffers the trainer really allocates.
final class MemoryEstimateTests: XCTestCase {
    // V = 64, C = 32, L = 2, H = 4, T = 16, B = 2: every view is a multiple of 16 floats, so the
    // 64-byte alignment adds no padding and the formulas below are exact.
    func job(_ overrides: [String] = []) throws -> Job {
        try Job.parse(text: TrainStepTests.job, file: "test", overrides: overrides)
    }

    func part(_ estimate: MemoryEstimate, _ name: String) -> Int? {
        estimate.parts.first { $0.name.hasPrefix(name) }?.bytes
    }

    func testBreakdownEqualsHandComputedFormulas() throws {
        let (V, C, L, H, T, B) = (64, 32, 2, 4, 16, 2)
        let N = B * T
        // BLOOM: per block LN 2C, QKV 3C^2 + 3C, dense C^2 + C, LN 2C, h->4h 4C^2 + 4C, 4h->h 4C^2 + C;
        // the embedding V x C with its LayerNorm 2C; ln_f 2C; lm_head tied.
        let parameters = 12 * L * C * C + 13 * L * C + V * C + 4 * C
        XCTAssertEqual(parameters, 27_584)
        // forward saves per block: ln1, att, residual_mid, ln2 [N,C]; qkv [N,3C]; fc, gelu [N,4C];
        // 4 x [N] means/rstds; attention's lse [B,H,T]. Outside the blocks: embedded, residual[0...L],
        // final [N,C] and 4 x [N]; one chunk of logits (here all N rows: [N,V]); backward scratch
        // dResidual, dHidden [N,C], dQKV [N,3C], dFC [N,4C].
        let perBlock = 15 * N * C + 4 * N + B * H * T
        let activationFloats = N * C + 2 * N + (L + 1) * N * C + L * perBlock + N * C + 2 * N + N * V + 9 * N * C
        let activationBytes = 4 * activationFloats + 2 * 4 * N    // + tokens and targets [N] Int32

        let estimate = try MemoryEstimate(job: try job(), worldSize: 1, blasThreads: 2)
        XCTAssertEqual(estimate.parameters, parameters)
        XCTAssertEqual(part(estimate, "parameters"), 4 * parameters)
        XCTAssertEqual(part(estimate, "gradients"), 4 * parameters)
        XCTAssertEqual(part(estimate, "optimizer state"), 8 * parameters)
        XCTAssertEqual(part(estimate, "activations"), activationBytes)
        XCTAssertEqual(activationBytes, 191_232)
        // global 4 = micro 2 x 1 rank x 2 accumulation steps: inputs and targets [2, N] Int32 each
        XCTAssertEqual(part(estimate, "micro-batch tokens"), 2 * 2 * N * 4)
        XCTAssertEqual(part(estimate, "sgemm"), 3 * 1536 * 1536 * 4)
        XCTAssertNil(part(estimate, "embedding rows"), "one rank sums no rows")
        XCTAssertNil(part(estimate, "all-reduce"))
        let runtime = MemoryEstimate.runtimeBytes + 2 * MemoryEstimate.runtimeBytesPerBLASThread
        XCTAssertEqual(part(estimate, "runtime"), runtime)
        XCTAssertEqual(part(estimate, "checkpoint snapshot"), 12 * parameters)
        // the HDF5 writer's ring: 4 chunks of the largest tensor (here all of fc1's [4C, C]) + a checksum each
        XCTAssertEqual(part(estimate, "checkpoint write buffers"), 4 * (4 * C * C * 4 + 4))
        let everyRank = 16 * parameters + activationBytes + 2 * 2 * N * 4 + 3 * 1536 * 1536 * 4 + runtime
        let rankZero = everyRank + 12 * parameters + 4 * (4 * C * C * 4 + 4)
        XCTAssertEqual(estimate.perRank, everyRank)
        XCTAssertEqual(estimate.rankZero, rankZero)
        XCTAssertEqual(estimate.node(ranks: 3, hostsRankZero: true), 2 * everyRank + rankZero)
        XCTAssertEqual(estimate.node(ranks: 3, hostsRankZero: false), 3 * everyRank)
    }

    /// The estimate is what the owners allocate: the buffers' own counts.
    func testEstimateMatchesTheAllocations() throws {
        let job = try job(["batch.micro_batch_size=1", "model.seq_length=13", "model.vocab_size=61"])   // padding in play
        let estimate = try MemoryEstimate(job: job, worldSize: 1, blasThreads: 1)
        let model = BloomModel(shape: job.model)
        let adam = try AdamW(layout: model.layout, settings: job.optimizer)
        let acts = try Activations.allocate(shape: job.model, batch: job.batch.microBatchSize)
        let writer = try CheckpointWriter(directory: CheckpointDirectory(runDirectory: NSTemporaryDirectory() + "unused"), layout: model.layout)
        XCTAssertEqual(part(estimate, "parameters"), model.params.bytes)
        XCTAssertEqual(part(estimate, "gradients"), model.grads.bytes)
        XCTAssertEqual(part(estimate, "optimizer state"), adam.expAvg.bytes + adam.expAvgSq.bytes)
        XCTAssertEqual(part(estimate, "activations"), acts.storage.bytes + 4 * (acts.tokens.count + acts.targets.count))
        XCTAssertEqual(part(estimate, "checkpoint snapshot"), 3 * model.params.bytes)
        _ = writer
        // every view lies inside the storage, the last one ending at most 15 floats of padding before its end
        XCTAssertEqual(acts.dFC + 13 * 4 * 32 - acts.storage.base <= acts.storage.count, true)
        XCTAssertGreaterThan(acts.dFC + 13 * 4 * 32 - acts.storage.base, acts.storage.count - 16)
    }

    /// Recompute keeps one shared set of the tensors it redoes: `attention` saves 5 [N,C] + 2 [N]
    /// + lse [B,H,T] per block but the first; `blocks` all 15 [N,C] + 4 [N] + lse.
    func testRecomputeSharesTheBlockTensors() throws {
        let (C, L, H, T, B) = (32, 2, 4, 16, 2)
        let N = B * T
        let attentionSet = 5 * N * C + 2 * N + B * H * T, mlpSet = 10 * N * C + 2 * N
        let none = try MemoryEstimate(job: try job(), worldSize: 1, blasThreads: 1)
        let attention = try MemoryEstimate(job: try job(["train.recompute=\"attention\""]), worldSize: 1, blasThreads: 1)
        let blocks = try MemoryEstimate(job: try job(["train.recompute=\"blocks\""]), worldSize: 1, blasThreads: 1)
        let full = try XCTUnwrap(part(none, "activations"))
        XCTAssertEqual(full - (try XCTUnwrap(part(attention, "activations"))), 4 * (L - 1) * attentionSet)
        XCTAssertEqual(full - (try XCTUnwrap(part(blocks, "activations"))), 4 * (L - 1) * (attentionSet + mlpSet))
        let job = try job(["train.recompute=\"blocks\""])
        let acts = try Activations.allocate(shape: job.model, batch: job.batch.microBatchSize, recompute: .blocks)
        XCTAssertEqual(acts.blocks[0].fc, acts.blocks[1].fc)
        XCTAssertNotEqual(acts.residual[0], acts.residual[1])
    }

    func testTwoRanksCountTheEmbeddingRowsSum() throws {
        let estimate = try MemoryEstimate(job: try job(["distributed.zero_stage=1"]), worldSize: 2, blasThreads: 1)
        // N = 32 rows, V = 64, C = 32: n = 32 local rows, U = min(64, 64) = 64 union rows, received
        // min(128, 64) = 64 rows; slot [V] Int32, bitmap 1 word, local and received rows fp32, ids.
        let expected = 64 * 4 + 8 + (32 + 64) * 32 * 4 + (32 + 64 + 64) * 4 + 3 * 8 + 8 * 4
        XCTAssertEqual(part(estimate, "embedding rows"), expected)
        XCTAssertEqual(part(estimate, "reduce temporaries"), 4 * 27_584, "up to every bucket in flight: the gradients' size")
        let unsharded = try MemoryEstimate(job: try job(["distributed.zero_stage=0"]), worldSize: 2, blasThreads: 1)
        XCTAssertEqual(part(unsharded, "all-reduce temporaries"), 4 * 27_584)
        // global 4 = micro 2 x 2 ranks x 1 step
        XCTAssertEqual(part(estimate, "micro-batch tokens"), 2 * 32 * 4)
    }

    /// ZeRO stage 1 on N ranks: moments for the largest shard (ceil(P/N) rounded up to 16 floats),
    /// and on rank 0 the save's windows instead of a snapshot; on one rank nothing changes.
    func testZeroStageOneCountsTheShardAndTheSavesWindows() throws {
        let P = 27_584, layout = ParameterLayout(shape: try job().model)
        let single = try MemoryEstimate(job: try job(), worldSize: 1, blasThreads: 1)
        XCTAssertEqual(part(single, "optimizer state"), 8 * P)
        XCTAssertEqual(part(single, "checkpoint snapshot"), 12 * P)
        for (ranks, shard) in [(2, 13_792), (3, 9_200), (4, 6_896)] {
            let estimate = try MemoryEstimate(job: try job(["batch.global_batch_size=\(2 * ranks)", "distributed.zero_stage=1"]), worldSize: ranks, blasThreads: 1)
            XCTAssertEqual(part(estimate, "optimizer state (Adam m, v; 1/\(ranks) shard)"), 8 * shard)
            XCTAssertEqual(ParameterShards(parameters: P, ranks: ranks).largest, shard)
            XCTAssertNil(part(estimate, "checkpoint snapshot"), "a sharded save streams: no snapshot")
            let windows = part(estimate, "checkpoint moment windows")
            XCTAssertEqual(windows, MomentWindows.bufferBytes(layout: layout))
            // here the whole model is one window of m and one of v, plus two chunk buffers of fc1 [4C, C]
            XCTAssertEqual(windows, 2 * 4 * P + 2 * (4 * 32 * 32 * 4 + 4))
            XCTAssertEqual(estimate.rankZero - estimate.perRank, windows! + part(estimate, "checkpoint write buffers")!)
            // what a rank allocates: its shard's moments
            let adam = try AdamW(layout: layout, settings: try job().optimizer, shard: ParameterShards(parameters: P, ranks: ranks).range(of: 0))
            XCTAssertEqual(part(estimate, "optimizer state"), adam.expAvg.bytes + adam.expAvgSq.bytes)
        }
    }

    func testShortfallNamesTheFiguresAndFields() throws {
        let estimate = try MemoryEstimate(job: try job(), worldSize: 2, blasThreads: 1)
        XCTAssertNoThrow(try estimate.check(ranksOnNode: 2, hostsRankZero: true, availableBytes: estimate.node(ranks: 2, hostsRankZero: true), source: "test"))
        XCTAssertThrowsError(try estimate.check(ranksOnNode: 2, hostsRankZero: true,
                                                availableBytes: estimate.node(ranks: 2, hostsRankZero: true) - 1, source: "test")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("needs \(MemoryEstimate.format(estimate.perRank)) of memory per rank"), text)
            XCTAssertTrue(text.contains("x 2 ranks on a node"), text)
            for field in ["model.hidden_size", "model.layers", "model.vocab_size", "batch.micro_batch_size", "model.seq_length", "fewer ranks per node"] {
                XCTAssertTrue(text.contains(field), "\(field) in \(text)")
            }
        }
    }

    /// Sizes beyond 64 bits are refused naming a field, not trapped.
    func testOverflowingActivationsAreAJobError() throws {
        let huge = try job(["model.seq_length=1048576", "batch.micro_batch_size=65536", "batch.global_batch_size=65536",
                            "model.hidden_size=131072", "model.heads=131072", "model.layers=4096"])   // L x 15 x B x T x C
        XCTAssertThrowsError(try MemoryEstimate(job: huge, worldSize: 1, blasThreads: 1)) { error in
            guard case .invalid(_, let field, _, _)? = error as? JobError else { return XCTFail("\(error)") }
            XCTAssertEqual(field, "batch.micro_batch_size")
        }
        XCTAssertNil(Activations.floatCount(shape: huge.model, batch: huge.batch.microBatchSize))
        XCTAssertThrowsError(try Activations.allocate(shape: huge.model, batch: huge.batch.microBatchSize)) { error in
            XCTAssertEqual(error as? AllocationFailed, AllocationFailed(what: "the activations", floats: nil))
        }
    }

    /// MPI counts elements in an Int32: a bucket or an embedding-rows message beyond 2^31-1 floats
    /// is refused before launch, naming the field, instead of trapping at the first all-reduce.
    func testMessagesBeyondMPICountsAreRefused() throws {
        func field(_ overrides: [String], ranks: Int) -> String? {
            do { try TrainStep.checkMessageSizes(job: try job(overrides), worldSize: ranks); return nil } catch {
                guard case .invalid(_, let field, _, _)? = error as? JobError else { return "\(error)" }
                return field
            }
        }
        // the tied table, 2^24 x 256 = 2^32 floats, and h->4h, 4 x 32768^2 = 2^32 floats: at stage 0
        // they go in bucket-sized pieces; at stage 1 the shards' 32-bit offsets refuse them
        XCTAssertNil(field(["model.vocab_size=16777216", "model.hidden_size=256", "distributed.zero_stage=0"], ranks: 2))
        XCTAssertEqual(field(["model.vocab_size=16777216", "model.hidden_size=256", "distributed.zero_stage=1"], ranks: 2), "distributed.zero_stage")
        XCTAssertNil(field(["model.vocab_size=16777216", "model.hidden_size=256"], ranks: 1), "one rank sends nothing")
        XCTAssertNil(field(["model.hidden_size=32768", "distributed.zero_stage=0"], ranks: 2))
        // embedding rows: a gather may receive min(2U, 2 x 2^24) = 2^25 rows of 64 floats (the table itself, 2^30, fits)
        XCTAssertEqual(field(["model.vocab_size=16777216", "model.hidden_size=64", "model.seq_length=1024",
                              "batch.micro_batch_size=65536", "batch.global_batch_size=131072"], ranks: 2), "batch.micro_batch_size")
        XCTAssertNil(field([], ranks: 2))
        // 12 x 3 x 8192^2 = 2.4 billion parameters, every bucket small: ZeRO stage 1's all-gather
        // addresses the shards with 32-bit offsets
        XCTAssertEqual(field(["model.hidden_size=8192", "model.layers=3", "distributed.zero_stage=1"], ranks: 2), "distributed.zero_stage")
        XCTAssertNil(field(["model.hidden_size=8192", "model.layers=3", "distributed.zero_stage=0"], ranks: 2))
    }

    /// A count the machine cannot hold is a thrown error, not a crash.
    func testFailedAllocationThrows() {
        XCTAssertThrowsError(try FloatBuffer(count: 1 << 60, for: "a test buffer")) { error in
            XCTAssertEqual(error as? AllocationFailed, AllocationFailed(what: "a test buffer", floats: 1 << 60))
            XCTAssertTrue("\(error)".contains("could not allocate 4.61e+09 GB (1152921504606846976 floats) for a test buffer"), "\(error)")
        }
        XCTAssertThrowsError(try FloatBuffer(count: Int.max, for: "x"))
    }
}
