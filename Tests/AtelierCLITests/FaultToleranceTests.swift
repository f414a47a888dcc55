import Foundation
import XCTest

/// Faults injected at chosen points (ATELIER_FAULT, docs/fault-tolerance.md) into 2-rank runs of
/// a tiny job that saves every 3 iterations. Each checks that the job ends by itself, promptly and
/// with the documented exit code, that the rerun of the same command resumes from the last
/// complete checkpoint and ends where an uninterrupted run ends, and that the ledger agrees.
final class FaultToleranceTests: XCTestCase {
    var dir: URL!
    var ledger: String { dir.appendingPathComponent("runs/ledger.sqlite").path }

    override func setUpWithError() throws {
        try XCTSkipUnless(AtelierProcess.isReleaseBuild, "needs a release build: swift test -c release")
        dir = try temporaryDirectory("faults")
        try writeCorpus(in: dir)
    }

    override func tearDownWithError() throws { if let dir { try? FileManager.default.removeItem(at: dir) } }

    func job(_ name: String) throws -> String {
        try writeTinyJob(in: dir, name: name, micro: 2, extra: "[checkpoint]\ninterval_iterations = 3\nkeep_last = 5",
                         accounting: "interval_seconds = 0.001")   // an interval closes at every iteration
    }

    func train(_ job: String, _ overrides: [String] = [], fault: String? = nil, extra: [String] = []) throws -> (AtelierProcess.Result, Double) {
        let start = Date()
        let result = try AtelierProcess.run(["train", job] + overrides.flatMap { ["--set", $0] } + extra, ranks: 2,
                                            environment: fault.map { ["ATELIER_FAULT": $0] } ?? [:])
        return (result, Date().timeIntervalSince(start))
    }

    func report() throws -> [[String: Any]] {
        let r = try AtelierProcess.run(["report", "--ledger", ledger, "--profile", dir.appendingPathComponent("cluster.toml").path, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let object = try XCTUnwrap(try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout + r.stderr)
        return object["jobs"] as? [[String: Any]] ?? []
    }

    /// The iteration of the checkpoint `latest` names: where a rerun must resume.
    func latestIteration(_ name: String) throws -> Int {
        let latest = try String(contentsOf: dir.appendingPathComponent("runs/\(name)/checkpoints/latest"), encoding: .utf8)
        return try XCTUnwrap(Int(latest.trimmingCharacters(in: .whitespacesAndNewlines).dropFirst(5).prefix(7)))
    }

    func finalLoss(_ name: String) throws -> Double {
        let metrics = try readMetrics(dir.appendingPathComponent("runs/\(name)/metrics.jsonl"))
        return try XCTUnwrap(metrics.last { ($0["iteration"] as? Int) == 20 }?["loss"] as? Double)
    }

    /// A rank killed in forward, in backward (with the first gradient bucket's all-reduce issued
    /// by the other rank) and with the all-reduce in flight: mpirun ends the job within seconds,
    /// the rerun resumes from the last complete checkpoint (6, or 3 if rank 0 was still writing 6)
    /// and ends on the uninterrupted run's loss, bit for bit;
    /// the ledger counts the work in the final checkpoint once and the rest as lost.
    func testKilledRankEndsTheJobAndTheRerunResumes() throws {
        let reference = try train(try job("reference")).0
        XCTAssertEqual(reference.status, 0, reference.stderr)
        let expected = try finalLoss("reference")
        for point in ["forward", "backward", "allreduce"] {
            let name = "killed-\(point)"
            let path = try job(name)
            let (killed, seconds) = try train(path, fault: "\(point)@8:1")
            XCTAssertNotEqual(killed.status, 0, "\(point): \(killed.stdout)")
            XCTAssertTrue(killed.stderr.contains("signal 9"), "\(point): \(killed.stderr)")
            XCTAssertLessThan(seconds, 60, "\(point): the job ended \(seconds) s after starting")
            // the checkpoint of 6, unless rank 0's background save of it was still running when the job ended
            let resumeAt = try latestIteration(name)
            XCTAssertTrue([3, 6].contains(resumeAt), "\(point): latest is iteration \(resumeAt)")
            let (rerun, _) = try train(path)
            XCTAssertEqual(rerun.status, 0, "\(point): \(rerun.stderr)")
            XCTAssertTrue(rerun.stdout.contains("at iteration \(resumeAt),"), "\(point): \(rerun.stdout)")
            XCTAssertEqual(try finalLoss(name), expected, "\(point): the resumed run ends where the uninterrupted one does")
        }
        let records = try report()
        let referenceUsage = try XCTUnwrap(records.first { $0["name"] as? String == "reference" }?["usage"] as? [String: Double])
        for record in records where (record["name"] as? String)?.hasPrefix("killed") == true {
            let name = record["name"] as! String
            XCTAssertEqual(record["launches"] as? Int, 2, name)
            XCTAssertEqual(record["status"] as? String, "finished", name)
            let usage = record["usage"] as? [String: Double] ?? [:]
            XCTAssertEqual(usage["model_pflops"]!, referenceUsage["model_pflops"]!,
                           accuracy: 1e-15, "\(name): counted work is the final checkpoint's, once")
            XCTAssertGreaterThan(usage["lost_device_hours"] ?? 0, 0, "\(name): the work after iteration 6 is lost")
        }
    }

    /// Rank 0 killed while writing the checkpoint of iteration 6: the half-written file never
    /// becomes `latest`, the rerun resumes from iteration 3, clears the leftover and finishes.
    func testKillDuringSaveResumesFromThePreviousCheckpoint() throws {
        let path = try job("save")
        let (killed, _) = try train(path, fault: "save@6:0")
        XCTAssertNotEqual(killed.status, 0, killed.stdout)
        let checkpoints = dir.appendingPathComponent("runs/save/checkpoints")
        let latest = try String(contentsOf: checkpoints.appendingPathComponent("latest"), encoding: .utf8)
        XCTAssertEqual(latest.trimmingCharacters(in: .whitespacesAndNewlines), "iter_0000003.h5")
        let (rerun, _) = try train(path)
        XCTAssertEqual(rerun.status, 0, rerun.stderr)
        XCTAssertTrue(rerun.stdout.contains("at iteration 3,"), rerun.stdout)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: checkpoints.path).filter { $0.contains(".tmp") }
        XCTAssertEqual(leftovers, [])
    }

    /// A rank stopped (SIGSTOP) in backward: after distributed.collective_timeout_seconds the
    /// job ends with exit 5, the message names the stopped rank, the ledger records the stall,
    /// and the rerun resumes.
    func testStoppedRankIsNamedAndTheJobEndsWithFive() throws {
        for stopped in [1, 0] {   // another rank reports when rank 0 itself is the one stopped
            let name = "stall\(stopped)"
            let path = try job(name)
            let (stalled, seconds) = try train(path, ["distributed.collective_timeout_seconds=3"], fault: "backward@8:\(stopped):STOP")
            XCTAssertEqual(stalled.status, 5, "rank \(stopped): \(stalled.stderr)")
            XCTAssertTrue(stalled.stderr.contains("rank \(stopped) (host "), stalled.stderr)
            XCTAssertTrue(stalled.stderr.contains("did not arrive"), stalled.stderr)
            XCTAssertLessThan(seconds, 60)
            let record = try XCTUnwrap(report().first { $0["name"] as? String == name })
            XCTAssertEqual(record["status"] as? String, "failed")
            XCTAssertTrue((record["exit_reason"] as? String ?? "").contains("rank \(stopped) (host"), "\(record)")
            // rank 0 stopped stops its background save of 6 too: then 3 is the last complete checkpoint
            let resumeAt = try latestIteration(name)
            XCTAssertTrue([3, 6].contains(resumeAt), "latest is iteration \(resumeAt)")
            let (rerun, _) = try train(path)
            XCTAssertEqual(rerun.status, 0, rerun.stderr)
            XCTAssertTrue(rerun.stdout.contains("at iteration \(resumeAt),"), rerun.stdout)
            // the work the rerun redid (the closed intervals after the resumed checkpoint) is lost to the stall
            let rerunRecord = try XCTUnwrap(report().first { $0["name"] as? String == name })
            let parts = try XCTUnwrap((rerunRecord["lost_work"] as? [String: Any])?["parts"] as? [String: [String: Any]])
            func device(_ cause: String) -> Int64 { (parts[cause]?["device_us"] as? NSNumber)?.int64Value ?? -1 }
            XCTAssertEqual(["restart_killed", "restart_failure", "restart_signal", "restart_other"].map(device), [0, 0, 0, 0], "\(parts)")
            let redone = (rerunRecord["usage"] as? [String: Double])?["lost_device_hours"] ?? -1
            XCTAssertEqual(Double(device("restart_stall")) / 3.6e9, redone, accuracy: 1e-8, "\(parts)")
        }
    }

    /// A disk that fills up during a save: a clear error naming the checkpoint, the previous
    /// checkpoint intact and loadable, and a rerun with space again resumes from it.
    func testFullDiskDuringSaveKeepsThePreviousCheckpoint() throws {
        try XCTSkipUnless(getuid() == 0, "mounting a small tmpfs needs root")
        // the size of one checkpoint of this job, from a run on the normal disk
        let probe = try job("probe")
        XCTAssertEqual(try train(probe, ["train.iterations=3"]).0.status, 0)
        let size = try XCTUnwrap(try FileManager.default.attributesOfItem(
            atPath: dir.appendingPathComponent("runs/probe/checkpoints/iter_0000003.h5").path)[.size] as? Int)
        // A disk of 2.5 checkpoints: those of iterations 3 and 6 fit, the one of iteration 9 does not.
        let path = try job("full")
        let checkpoints = dir.appendingPathComponent("runs/full/checkpoints")
        try FileManager.default.createDirectory(at: checkpoints, withIntermediateDirectories: true)
        let mount = try AtelierProcess.command(["mount", "-t", "tmpfs", "-o", "size=\(size * 5 / 2 / 1024)k", "tmpfs", checkpoints.path])
        try XCTSkipUnless(mount.status == 0, "cannot mount a tmpfs here: \(mount.stderr)")
        defer { _ = try? AtelierProcess.command(["umount", "-l", checkpoints.path]) }
        let (full, _) = try train(path, ["checkpoint.keep_last=10"])
        XCTAssertEqual(full.status, 1, full.stdout)
        XCTAssertTrue(full.stderr.contains("could not save the checkpoint of iteration 9"), full.stderr)
        XCTAssertTrue(full.stderr.contains("No space left on device"), full.stderr)
        XCTAssertTrue(full.stderr.contains("iter_0000006.h5, is intact"), full.stderr)
        let latest = try String(contentsOf: checkpoints.appendingPathComponent("latest"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(latest, "iter_0000006.h5")
        let verify = try AtelierProcess.run(["checkpoint", "verify", checkpoints.appendingPathComponent(latest).path])
        XCTAssertEqual(verify.status, 0, verify.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: checkpoints.path).filter { $0.contains(".tmp") }, [],
                       "the failed save removed its partial file")
        // space again (the oldest checkpoint removed, retention keeps 1): the rerun resumes from iteration 6
        try FileManager.default.removeItem(at: checkpoints.appendingPathComponent("iter_0000003.h5"))
        let (rerun, _) = try train(path, ["checkpoint.keep_last=1"])
        XCTAssertEqual(rerun.status, 0, rerun.stderr)
        XCTAssertTrue(rerun.stdout.contains("at iteration 6,"), rerun.stdout)
    }

    /// A job file changed between a run and its resume: a change to what is trained is refused
    /// (exit 2, naming the field, nothing written) unless --accept-job-change, which the ledger
    /// records; changing how long to train is not a change of that kind.
    func testChangedJobIsRefusedUnlessAccepted() throws {
        let path = try job("changed")
        XCTAssertEqual(try train(path, ["train.iterations=6"]).0.status, 0)
        let checkpoints = dir.appendingPathComponent("runs/changed/checkpoints")
        let before = try FileManager.default.contentsOfDirectory(atPath: checkpoints.path).sorted()
        let (refused, _) = try train(path, ["train.iterations=9", "optimizer.lr=0.01"])
        XCTAssertEqual(refused.status, 2, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("optimizer.lr: 0.003 -> 0.01"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("--accept-job-change"), refused.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: checkpoints.path).sorted(), before)
        let (accepted, _) = try train(path, ["train.iterations=9", "optimizer.lr=0.01"], extra: ["--accept-job-change"])
        XCTAssertEqual(accepted.status, 0, accepted.stderr)
        XCTAssertTrue(accepted.stderr.contains("optimizer.lr: 0.003 -> 0.01"), accepted.stderr)
        XCTAssertTrue(accepted.stdout.contains("at iteration 6,"), accepted.stdout)
        // longer training with the same schedule is a plain resume
        let (longer, _) = try train(path, ["train.iterations=12", "optimizer.lr=0.01"])
        XCTAssertEqual(longer.status, 0, longer.stderr)
        XCTAssertTrue(longer.stdout.contains("at iteration 9,"), longer.stdout)
    }
}
