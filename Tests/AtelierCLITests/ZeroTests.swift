import Foundation
import XCTest

/// ZeRO stage 1 (distributed.zero_stage): the same training as without sharding, and checkpoints
/// that resume on any number of ranks at either stage.
final class ZeroTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = try temporaryDirectory("zero")
        try writeCorpus(in: dir)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func losses(_ run: String) throws -> [Int: Double] {
        var out: [Int: Double] = [:]
        for m in try readMetrics(dir.appendingPathComponent("runs/\(run)/metrics.jsonl")) {
            out[m["iteration"] as! Int] = (m["loss"] as! Double)
        }
        return out
    }

    /// The parameter hash rank 0 logs with each save.
    func savedHashes(_ output: String) -> [String] {
        output.split(separator: "\n").compactMap { line in
            line.range(of: "parameter hash ").map { String(line[$0.upperBound...]).trimmingCharacters(in: CharacterSet(charactersIn: ")")) }
        }
    }

    func train(_ job: String, ranks: Int, _ overrides: [String] = []) throws -> AtelierProcess.Result {
        let r = try AtelierProcess.run(["train", job] + overrides.flatMap { ["--set", $0] }, ranks: ranks > 1 ? ranks : nil)
        XCTAssertEqual(r.status, 0, r.stderr)
        return r
    }

    /// 20 steps on 2 ranks: sharded moments, gradients reduced to their owners and parameters
    /// all-gathered give the losses of the all-reduce run to reduction-order tolerance, and here
    /// the very same parameters (on 2 ranks every sum is a + b, whichever rank adds).
    func testZeroOneMatchesTheUnshardedRun() throws {
        let unsharded = try writeTinyJob(in: dir, name: "stage0", micro: 2)
        let sharded = try writeTinyJob(in: dir, name: "stage1", micro: 2)
        let a = try train(unsharded, ranks: 2, ["distributed.zero_stage=0"])
        let b = try train(sharded, ranks: 2, ["distributed.zero_stage=1"])
        XCTAssertTrue(b.stdout.contains("streamed from 2 shards"), b.stdout)
        XCTAssertTrue(a.stdout.contains("in the background"), a.stdout)
        let la = try losses("stage0"), lb = try losses("stage1")
        XCTAssertEqual(la.count, 20)
        XCTAssertEqual(lb.count, 20)
        for i in 1...20 { XCTAssertEqual(lb[i]!, la[i]!, accuracy: 1e-6 * la[i]!, "iteration \(i)") }
        XCTAssertLessThan(la[20]!, la[1]!, "it trains")
        XCTAssertEqual(savedHashes(b.stdout).last, savedHashes(a.stdout).last, "the final parameters")
        XCTAssertNotNil(savedHashes(a.stdout).last)
    }

    /// A 2-rank sharded run saved at iteration 10, resumed on 2, 1 and 4 ranks: bit for bit the run
    /// that resumes the same iteration-10 state from an unsharded save through the unsharded load
    /// (rank 0 reads everything and broadcasts) at the same stage, at every iteration and in the
    /// final parameters; on 2 ranks also bit for bit the uninterrupted sharded run, and at stage 0.
    /// (On 4 ranks the stages sum in different orders: MPI_Ireduce's binomial tree against
    /// MPI_Iallreduce's Rabenseifner, so only the same stage can match bit for bit.)
    func testShardedCheckpointResumesBitExactlyOnTwoOneAndFourRanks() throws {
        let interval = "[checkpoint]\ninterval_iterations = 10"
        let straight = try writeTinyJob(in: dir, name: "straight", micro: 2, extra: interval)
        let uninterrupted = try train(straight, ranks: 2)
        for (ranks, stage) in [(2, 1), (2, 0), (1, 1), (4, 1)] {
            // the reference: saved unsharded on 2 ranks, resumed unsharded on `ranks` ranks
            let reference = try writeTinyJob(in: dir, name: "reference\(ranks)s\(stage)", micro: 2, extra: interval)
            _ = try train(reference, ranks: 2, ["train.iterations=10", "distributed.zero_stage=0"])
            let r = try train(reference, ranks: ranks, ["distributed.zero_stage=\(stage)"])
            let name = "sharded\(ranks)s\(stage)"
            let job = try writeTinyJob(in: dir, name: name, micro: 2, extra: interval)
            let saved = try train(job, ranks: 2, ["train.iterations=10", "distributed.zero_stage=1"])
            XCTAssertTrue(saved.stdout.contains("streamed from 2 shards"), saved.stdout)
            let resumed = try train(job, ranks: ranks, ["distributed.zero_stage=\(stage)"])
            XCTAssertTrue(resumed.stdout.contains("at iteration 10, 80 samples consumed (saved on 2 ranks, now \(ranks))"), resumed.stdout)
            let expected = try losses("reference\(ranks)s\(stage)"), got = try losses(name)
            XCTAssertEqual(got.count, 20)
            for i in 1...20 { XCTAssertEqual(got[i], expected[i], "\(name) iteration \(i)") }
            XCTAssertEqual(savedHashes(resumed.stdout).last, savedHashes(r.stdout).last, "\(name): the final parameters")
            if ranks == 2 {
                XCTAssertEqual(got, try losses("straight"), name)
                XCTAssertEqual(savedHashes(resumed.stdout).last, savedHashes(uninterrupted.stdout).last, name)
            }
        }
    }

    /// Damaged moments show only when rank 0 reads them window by window, after the parameters
    /// were loaded and sent: the checkpoint is skipped like any damaged one and the run resumes
    /// from the previous one.
    func testDamagedMomentsFallBackToThePreviousCheckpoint() throws {
        let job = try writeTinyJob(in: dir, name: "damaged", micro: 2, extra: "[checkpoint]\ninterval_iterations = 5")
        _ = try train(job, ranks: 2, ["train.iterations=10", "distributed.zero_stage=1"])
        let newest = dir.appendingPathComponent("runs/damaged/checkpoints/iter_0000010.h5")
        var bytes = try Data(contentsOf: newest)
        // the moments are written last: flip bytes in their chunks, the file's metadata intact
        for fraction in [0.7, 0.8, 0.9] {
            let at = Int(Double(bytes.count) * fraction)
            for i in at..<(at + 64) { bytes[i] ^= 0xFF }
        }
        try bytes.write(to: newest)
        let resumed = try train(job, ranks: 2, ["train.iterations=12", "distributed.zero_stage=1"])
        XCTAssertTrue(resumed.stderr.contains("warning: skipping checkpoint") && resumed.stderr.contains("iter_0000010.h5: dataset '/optimizer/"),
                      resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("iter_0000005.h5 at iteration 5"), resumed.stdout)
    }
}
