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
        // The same buckets all-reduced after backward instead of during it: the same sums, bit for bit.
        let after = try AtelierProcess.run(["train", try writeJob("after", micro: 2, extra: "[distributed]\noverlap = false")], ranks: 2)
        XCTAssertEqual(after.status, 0, after.stderr)
        let c = try readMetrics(dir.appendingPathComponent("runs/after/metrics.jsonl"))
        XCTAssertEqual(c.map { $0["loss"] as! Double }, a.map { $0["loss"] as! Double })
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

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The shipped quickstart (multilingual, BPE-tokenized), shortened, under mpirun -np 2: the loss
    /// falls, and metrics.jsonl carries the promised fields and the per-language validation.
    func testQuickstartLossFallsAndEveryLanguageIsValidated() throws {
        try XCTSkipUnless(AtelierProcess.isReleaseBuild, "the quickstart test needs a release build: swift test -c release")
        let prepared = FileManager.default.fileExists(atPath: Self.root.appendingPathComponent("data/tokenizer.json").path)
        if !prepared {
            XCTAssertNil(ProcessInfo.processInfo.environment["CI"], "CI must prepare the quickstart's data (.ci/run)")
            throw XCTSkip("run bash jobs/quickstart/prepare-data.sh first (the README's set-up command does)")
        }
        let runDir = dir.appendingPathComponent("quickstart")
        let result = try AtelierProcess.run(["train", "jobs/quickstart/quickstart.toml", "--set", "train.iterations=150",
                                             "--set", "train.log_interval=10", "--set", "train.eval_interval=75",
                                             "--set", "run_dir=\(runDir.path)"], ranks: 2, cwd: Self.root)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("iteration 150/150"), result.stdout)
        let metrics = try readMetrics(runDir.appendingPathComponent("metrics.jsonl"))
        let steps = metrics.filter { $0["loss"] != nil }
        XCTAssertEqual(steps.count, 15)
        for key in ["iteration", "loss", "lr", "grad_norm", "tokens_per_s", "mfu", "consumed_samples", "consumed_tokens",
                    "ms_per_iteration", "skipped_iterations", "tflops_per_rank", "eta_s"] {
            XCTAssertNotNil(steps[0][key], key)
        }
        let first = steps.first!["loss"] as! Double, last = steps.last!["loss"] as! Double
        XCTAssertGreaterThan(first, 7.0)                      // about ln 4096 = 8.3 at the start
        XCTAssertLessThan(last, 0.9 * first, "loss \(first) -> \(last)")
        let validations = metrics.compactMap { $0["validation"] as? [String: [String: Double]] }
        XCTAssertEqual(validations.count, 2)                  // at 75 and 150
        XCTAssertEqual(Set(validations[1].keys), ["de", "el", "en", "es", "fr", "it", "ja", "nl", "pl", "pt", "ru", "tr", "uk", "vi", "zh"])
        for (language, v) in validations[1] {
            XCTAssertGreaterThan(v["tokens"]!, 0, language)
            XCTAssertGreaterThan(v["bits_per_byte"]!, 0.5, language)
            XCTAssertLessThan(v["loss"]!, validations[0][language]!["loss"]! + 0.2, language)   // not worse than at 75
        }
        XCTAssertTrue(result.stdout.contains("validation at iteration 150: de loss"), result.stdout)
    }

    /// The byte-level baseline, shortened, under mpirun -np 2: the loss falls well below its start.
    func testByteBaselineLossFalls() throws {
        try XCTSkipUnless(AtelierProcess.isReleaseBuild, "needs a release build: swift test -c release")
        let runDir = dir.appendingPathComponent("bytes")
        let result = try AtelierProcess.run(["train", "jobs/architecture-and-scaling/bytes-baseline.toml", "--set", "train.iterations=120",
                                             "--set", "train.log_interval=10", "--set", "run_dir=\(runDir.path)"], ranks: 2, cwd: Self.root)
        XCTAssertEqual(result.status, 0, result.stderr)
        let metrics = try readMetrics(runDir.appendingPathComponent("metrics.jsonl"))
        XCTAssertEqual(metrics.count, 12)
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
