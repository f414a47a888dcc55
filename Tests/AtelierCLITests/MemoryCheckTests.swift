import Foundation
import XCTest

/// `atelier estimate`'s memory breakdown, `atelier train`'s refusal of a job its node cannot hold,
/// and hostile sizes from --set: exit 2 naming the field, never a trap, nothing written.
final class MemoryCheckTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = try temporaryDirectory("memory")
        try writeCorpus(in: dir)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    var runDirectory: String { dir.appendingPathComponent("runs/mem").path }

    func job() throws -> String { try writeTinyJob(in: dir, name: "mem", micro: 2) }

    func estimate(_ extra: [String]) throws -> AtelierProcess.Result {
        try AtelierProcess.run(["estimate", try job(), "--profile", dir.appendingPathComponent("cluster.toml").path, "--mfu", "0.5"] + extra)
    }

    /// The tiny job (V 260, C 32, L 2, H 4, T 32, micro 2, global 8): the JSON's parts against
    /// BLOOM's parameter count and the activation formula, written out here.
    func testEstimatePrintsTheMemoryPerRank() throws {
        let (V, C, L, H, T, B) = (260, 32, 2, 4, 32, 2)
        let N = B * T
        let parameters = 12 * L * C * C + 13 * L * C + V * C + 4 * C
        func padded(_ n: Int) -> Int { (n + 15) / 16 * 16 }
        // every view but logits [N, V] (16640 floats) and the [N] statistics (64) is a multiple of 16 already
        let perBlock = 15 * N * C + 4 * N + B * H * T
        let activations = 4 * (N * C + 2 * N + (L + 1) * N * C + L * perBlock + N * C + 2 * N + padded(N * V) + 9 * N * C) + 8 * N

        let result = try estimate(["--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as! [String: Any]
        XCTAssertNotNil(json["device_hours"], "the cost's fields stay at the top level")
        let memory = json["memory"] as! [String: Any]
        XCTAssertEqual(memory["parameters"] as? Int, parameters)
        let parts = Dictionary(uniqueKeysWithValues: (memory["parts"] as! [[String: Any]]).map { ($0["name"] as! String, $0) })
        XCTAssertEqual(parts["parameters"]?["bytes"] as? Int, 4 * parameters)
        XCTAssertEqual(parts["gradients"]?["bytes"] as? Int, 4 * parameters)
        XCTAssertEqual(parts["optimizer state (Adam m, v)"]?["bytes"] as? Int, 8 * parameters)
        XCTAssertEqual(parts["activations"]?["bytes"] as? Int, activations)
        XCTAssertEqual(parts["micro-batch tokens"]?["bytes"] as? Int, 2 * 4 * N * 4)   // 4 accumulation steps
        XCTAssertEqual(parts["checkpoint snapshot (params, m, v)"]?["only_rank_zero"] as? Bool, true)
        XCTAssertEqual(parts["activations"]?["fields"] as? [String],
                       ["batch.micro_batch_size", "model.seq_length", "model.hidden_size", "model.layers", "model.heads", "model.vocab_size", "train.recompute"])
        let perRank = memory["per_rank_bytes"] as! Int
        XCTAssertEqual(memory["rank_zero_bytes"] as? Int, perRank + 12 * parameters + (parts["checkpoint write buffers"]?["bytes"] as! Int))
        XCTAssertGreaterThan(json["available_bytes_on_this_machine"] as? Int ?? 0, 0)

        let text = try estimate(["--ranks", "2", "--set", "distributed.blas_threads=1", "--set", "distributed.zero_stage=1"])
        XCTAssertEqual(text.status, 0, text.stderr)
        for line in ["memory per rank (fp32, 2 ranks, 1 BLAS thread each, \(parameters) parameters):", "activations", "embedding rows sum",
                     "optimizer state (Adam m, v; 1/2 shard)", "total per rank", "+ checkpoint moment windows (m, v)",
                     "total on rank 0", "this machine: "] {
            XCTAssertTrue(text.stdout.contains(line), "\(line) in\n\(text.stdout)")
        }
        XCTAssertFalse(try estimate([]).stdout.contains("embedding rows sum"), "one rank sums no rows")
    }

    /// Hidden size 8192 x 24 layers: about 19 billion parameters, 300 GB per rank.
    func testTrainRefusesAJobTheNodeCannotHold() throws {
        // ZeRO stage 0, so that on 2 ranks too the moments are the largest part
        let big = ["--set", "model.hidden_size=8192", "--set", "model.layers=24", "--set", "distributed.zero_stage=0"]
        for ranks in [nil, 2] as [Int?] {
            let result = try AtelierProcess.run(["train", try job()] + big, ranks: ranks)
            XCTAssertEqual(result.status, 2, result.stderr)
            XCTAssertTrue(result.stderr.contains("the job needs 3"), result.stderr)    // 3xx GB
            XCTAssertTrue(result.stderr.contains("GB of memory per rank"), result.stderr)
            XCTAssertTrue(result.stderr.contains("\(ranks ?? 1) rank\(ranks == nil ? "" : "s") on a node"), result.stderr)
            XCTAssertTrue(result.stderr.contains("per rank. The largest part is optimizer state (Adam m, v)"), result.stderr)
            XCTAssertTrue(result.stderr.contains("--ignore-memory-check"), result.stderr)
            XCTAssertEqual(result.stderr.components(separatedBy: "the job needs").count - 1, 1, "printed once, by rank 0")
            XCTAssertFalse(FileManager.default.fileExists(atPath: runDirectory))
        }
        // Overridden, the allocation itself fails (300 GB is more than the machine's RAM + swap): a
        // thrown error with exit 2, not a crash, before anything is written.
        let forced = try AtelierProcess.run(["train", try job(), "--ignore-memory-check"] + big)
        XCTAssertEqual(forced.status, 2, forced.stderr)
        XCTAssertTrue(forced.stdout.contains("memory: starting anyway (--ignore-memory-check)"), forced.stdout)
        XCTAssertTrue(forced.stderr.contains("could not allocate"), forced.stderr)
        XCTAssertTrue(forced.stderr.contains("for the Adam first moments (m)"), forced.stderr)
        XCTAssertFalse(forced.stderr.contains("Fatal error"), forced.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: runDirectory))
    }

    /// Hostile values for every field that sizes something: each run exits 2 naming the field,
    /// with no trap (no "Fatal error", no backtrace) and no run directory.
    func testHostileSizesNeverTrap() throws {
        let cases: [([String], String)] = [
            (["model.hidden_size=3000000"], "model.hidden_size"),
            (["model.hidden_size=131072"], "model.hidden_size"),                 // within the limit: too big for memory
            (["model.hidden_size=-5"], "model.hidden_size"),
            (["model.hidden_size=0"], "model.hidden_size"),
            (["model.hidden_size=1e300"], "model.hidden_size"),
            (["model.vocab_size=100000000"], "model.vocab_size"),
            (["model.vocab_size=9223372036854775807"], "model.vocab_size"),
            (["model.seq_length=100000000"], "model.seq_length"),
            (["model.seq_length=1048576"], "model.seq_length"),                  // activations beyond this machine's memory
            (["batch.micro_batch_size=1000000000"], "batch.micro_batch_size"),
            (["batch.micro_batch_size=65536", "batch.global_batch_size=65536", "model.seq_length=1024"], "batch.micro_batch_size"),  // 1.4 PB of activations
            (["batch.global_batch_size=9223372036854775807"], "batch.global_batch_size"),
            (["model.seq_length=1048576", "batch.micro_batch_size=65536", "batch.global_batch_size=65536",
              "model.hidden_size=131072", "model.heads=131072", "model.layers=4096"], "batch.micro_batch_size"),   // L x 15 x B x T x C overflows 64 bits
            (["distributed.bucket_mb=1e300"], "distributed.bucket_mb"),
            (["distributed.bucket_mb=-1"], "distributed.bucket_mb"),
            (["distributed.bucket_mb=nan"], "distributed.bucket_mb"),
            (["distributed.bucket_mb=inf"], "distributed.bucket_mb"),
            (["distributed.blas_threads=1000000000"], "distributed.blas_threads"),
            (["distributed.collective_timeout_seconds=1e300"], "distributed.collective_timeout_seconds"),
            (["accounting.interval_seconds=1e300"], "accounting.interval_seconds"),
            (["checkpoint.interval_minutes=inf"], "checkpoint.interval_minutes"),
            (["model.layers=1000000000"], "model.layers"),
            (["model.layers=-1"], "model.layers"),
            (["model.heads=0"], "model.heads"),
            (["model.heads=3"], "model.heads"),
            (["train.iterations=4611686018427387904"], "train.iterations"),
            (["seed=-1"], "seed"),
        ]
        let path = try job()
        for (assignments, field) in cases {
            let result = try AtelierProcess.run(["train", path] + assignments.flatMap { ["--set", $0] })
            let label = assignments.joined(separator: " ")
            XCTAssertEqual(result.status, 2, "\(label): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(field), "\(label) should name \(field): \(result.stderr)")
            for trap in ["Fatal error", "Stack dump", "backtrace", "Illegal instruction", "Segmentation"] {
                XCTAssertFalse(result.stderr.contains(trap), "\(label): \(result.stderr)")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: runDirectory), label)
        }
    }
}
