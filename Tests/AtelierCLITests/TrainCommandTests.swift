import Foundation
import XCTest

final class TrainCommandTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = try temporaryDirectory("train")
        try writeCorpus(in: dir)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func writeJob(_ name: String, micro: Int, extra: String = "") throws -> String {
        try writeTinyJob(in: dir, name: name, micro: micro, extra: extra)
    }

    /// The data-parallel property: 2 ranks with micro-batch b follow the loss curve of 1 rank that
    /// accumulates 2b per step, within float summation tolerance, over 20 steps.
    func testTwoRanksFollowOneRankWithAccumulation() throws {
        let parallel = try AtelierProcess.run(["train", try writeJob("parallel", micro: 2)], ranks: 2)
        XCTAssertEqual(parallel.status, 0, parallel.stderr)
        let single = try AtelierProcess.run(["train", try writeJob("single", micro: 4)])
        XCTAssertEqual(single.status, 0, single.stderr)
        XCTAssertTrue(parallel.stdout.contains("micro 2 x 2 ranks x 2 accumulation steps"), parallel.stdout)
        XCTAssertTrue(single.stdout.contains("micro 4 x 1 rank x 2 accumulation steps"), single.stdout)
        let a = try readMetrics(dir.appendingPathComponent("runs/parallel/metrics.jsonl"))
        let b = try readMetrics(dir.appendingPathComponent("runs/single/metrics.jsonl"))
        XCTAssertEqual(a.count, 20)
        XCTAssertEqual(b.count, 20)
        for (x, y) in zip(a, b) {
            let lx = x["loss"] as! Double, ly = y["loss"] as! Double
            XCTAssertEqual(lx, ly, accuracy: 1e-5 * ly, "iteration \(x["iteration"]!)")
            XCTAssertEqual(x["lr"] as! Double, y["lr"] as! Double)
        }
        let first = a.first!["loss"] as! Double, last = a.last!["loss"] as! Double
        XCTAssertLessThan(last, first, "the loss falls")
    }

    func testBadJobFileExitsWithTwoAndCreatesNothing() throws {
        let path = try writeJob("bad", micro: 2, extra: "learning_rate = 1")
        let runDir = dir.appendingPathComponent("runs/bad")
        for ranks in [nil, 2] as [Int?] {
            let result = try AtelierProcess.run(["train", path], ranks: ranks)
            XCTAssertEqual(result.status, 2, result.stderr)
            XCTAssertTrue(result.stderr.contains("unknown field 'train.learning_rate'"), result.stderr)
            XCTAssertEqual(result.stderr.components(separatedBy: "unknown field").count - 1, 1, "printed once, by rank 0")
            XCTAssertFalse(FileManager.default.fileExists(atPath: runDir.path))
        }
        // a batch that does not split over 3 ranks
        let split = try AtelierProcess.run(["train", try writeJob("split", micro: 2)], ranks: 3)
        XCTAssertEqual(split.status, 2, split.stderr)
        XCTAssertTrue(split.stderr.contains("batch.global_batch_size"), split.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("runs/split").path))
        // a missing job file, a bad override
        let missing = try AtelierProcess.run(["train", dir.appendingPathComponent("nope.toml").path])
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("nope.toml: cannot read the file"), missing.stderr)
        let override = try AtelierProcess.run(["train", try writeJob("override", micro: 2), "--set", "model.layers=zero"])
        XCTAssertEqual(override.status, 2)
        XCTAssertTrue(override.stderr.contains("field 'model.layers': expected an integer"), override.stderr)
    }

    func testRanksRunningDifferentJobsAreRefused() throws {
        let path = try writeJob("mismatch", micro: 2)
        let result = try AtelierProcess.runMPMD([["train", path], ["train", path, "--set", "seed=12"]])
        XCTAssertEqual(result.status, 2, result.stderr)
        XCTAssertTrue(result.stderr.contains("the job (file plus --set overrides) differs between rank 0 and rank 1"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("runs/mismatch").path))
    }

    /// The shipped quickstart, shortened, under mpirun -np 2: the loss falls well below its start and
    /// metrics.jsonl carries the promised fields.
    func testQuickstartLossFalls() throws {
        try XCTSkipUnless(AtelierProcess.isReleaseBuild, "the quickstart test needs a release build: swift test -c release")
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let runDir = dir.appendingPathComponent("quickstart")
        let result = try AtelierProcess.run(["train", "jobs/quickstart/quickstart.toml", "--set", "train.iterations=120",
                                             "--set", "train.log_interval=10", "--set", "run_dir=\(runDir.path)"],
                                            ranks: 2, cwd: root)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("iteration 120/120"), result.stdout)
        let metrics = try readMetrics(runDir.appendingPathComponent("metrics.jsonl"))
        XCTAssertEqual(metrics.count, 12)
        for key in ["iteration", "loss", "lr", "grad_norm", "tokens_per_s", "mfu", "consumed_samples", "consumed_tokens",
                    "ms_per_iteration", "skipped_iterations", "tflops_per_rank", "eta_s"] {
            XCTAssertNotNil(metrics[0][key], key)
        }
        let first = metrics.first!["loss"] as! Double, last = metrics.last!["loss"] as! Double
        XCTAssertGreaterThan(first, 4.0)
        XCTAssertLessThan(last, 0.6 * first, "loss \(first) -> \(last)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: runDir.appendingPathComponent("job.toml").path))
    }

    func testHelpReadsWell() throws {
        let top = try AtelierProcess.run(["--help"])
        XCTAssertEqual(top.status, 0)
        XCTAssertTrue(top.stdout.contains("train") && top.stdout.contains("bench") && top.stdout.contains("Exit codes"), top.stdout)
        let train = try AtelierProcess.run(["train", "--help"])
        XCTAssertTrue(train.stdout.contains("--set <key.path=value>"), train.stdout)
    }
}
