import Foundation
import XCTest

/// cluster/slurm/atelier.sbatch on a single-node Slurm started from Debian's packages
/// (cluster/slurm/test-cluster.sh: slurmctld, slurmd and munge on localhost). Skipped where they
/// are not installed or the test does not run as root.
final class SlurmTests: XCTestCase {
    var dir: URL!
    let slurmDir = "/tmp/atelier-slurm-test-\(getpid())"
    static let script = TrainCommandTests.root.appendingPathComponent("cluster/slurm/test-cluster.sh").path
    static let template = TrainCommandTests.root.appendingPathComponent("cluster/slurm/atelier.sbatch").path

    override func setUpWithError() throws {
        try XCTSkipUnless(AtelierProcess.isReleaseBuild, "needs a release build: swift test -c release")
        try XCTSkipUnless(getuid() == 0, "starting slurmctld and slurmd needs root")
        let tools = try AtelierProcess.command(["/bin/sh", "-c", "command -v slurmctld && command -v slurmd && command -v munged && command -v sbatch"])
        try XCTSkipUnless(tools.status == 0, "Slurm is not installed (apt-get install slurmd slurmctld slurm-client munge)")
        let up = try AtelierProcess.commandLeavingDaemons(["bash", Self.script, "up", "--dir", slurmDir])
        guard up.status == 0 else { throw XCTSkip("cannot start a test Slurm here: \(up.stderr)") }
        dir = try temporaryDirectory("slurm")
        try writeCorpus(in: dir)
    }

    override func tearDownWithError() throws {
        _ = try? AtelierProcess.commandLeavingDaemons(["bash", Self.script, "down", "--dir", slurmDir])
        if let dir { try? FileManager.default.removeItem(at: dir) }
    }

    func slurm(_ arguments: [String]) throws -> AtelierProcess.Result {
        try AtelierProcess.commandLeavingDaemons(["env", "SLURM_CONF=\(slurmDir)/slurm.conf"] + arguments)
    }

    func state(_ job: String) throws -> String {
        let show = try slurm(["scontrol", "show", "job", job])
        return show.stdout.split(separator: " ").first { $0.hasPrefix("JobState=") }.map { String($0.dropFirst(9)) } ?? "?"
    }

    /// The template under a 3-minute limit with the signal 170 s before it (the shipped template
    /// says 120 s; this keeps the test short): Slurm sends SIGUSR1 to the batch shell, the ranks
    /// save and stop with exit 4, the job requeues itself, the next launch resumes from that
    /// checkpoint and finishes. Slurm holds a requeued job for two minutes before it may start
    /// again; the test lets it start at once.
    func testWallTimeSignalCheckpointsAndTheRequeuedJobResumes() throws {
        let job = try writeTinyJob(in: dir, name: "slurm", micro: 4, extra: "[checkpoint]\ninterval_iterations = 0")
        let original = try String(contentsOfFile: job, encoding: .utf8)
        try original.replacingOccurrences(of: "iterations = 20\n", with: "iterations = 1000000\n")
            .replacingOccurrences(of: "log_interval = 1\n", with: "log_interval = 1000\n")
            .write(toFile: job, atomically: true, encoding: .utf8)
        let log = dir.appendingPathComponent("slurm.out").path
        let submit = try slurm(["ATELIER=\(AtelierProcess.executable)", "sbatch", "--parsable", "--nodes=1", "--ntasks-per-node=2",
                                "--time=3", "--signal=B:USR1@170", "--chdir=\(dir.path)", "--output=\(log)",
                                Self.template, job, "--set", "schedule.decay_samples=8000000"])
        XCTAssertEqual(submit.status, 0, submit.stderr)
        let id = submit.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        // the signal comes 10 s after the start, give or take Slurm's 30 s timer; then the requeue
        var requeued = false
        let deadline = Date().addingTimeInterval(150)
        while Date() < deadline {
            sleep(2)
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            if text.contains("requeueing") { requeued = true; break }
        }
        XCTAssertTrue(requeued, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "no log")
        guard requeued else { return }
        // the second launch: the job file now ends it soon after the checkpoint it resumes from
        let text = try String(contentsOfFile: log, encoding: .utf8)
        let stoppedAt = try XCTUnwrap(text.range(of: #"stopped by a signal at iteration (\d+)"#, options: .regularExpression)
            .map { Int(text[$0].split(separator: " ").last!)! })
        let jobText = try String(contentsOfFile: job, encoding: .utf8).replacingOccurrences(of: "iterations = 1000000", with: "iterations = \(stoppedAt + 50)")
        try jobText.write(toFile: job, atomically: true, encoding: .utf8)
        // once Slurm has put it back in the queue (updating it while it still completes fails it)
        let queued = Date().addingTimeInterval(60)
        while Date() < queued, try state(id) != "PENDING" { sleep(1) }
        XCTAssertEqual(try state(id), "PENDING")
        _ = try slurm(["scontrol", "update", "JobId=\(id)", "StartTime=now"])
        let end = Date().addingTimeInterval(120)
        while Date() < end, try state(id) != "COMPLETED" { sleep(2) }
        let final = try String(contentsOfFile: log, encoding: .utf8)
        XCTAssertEqual(try state(id), "COMPLETED", final)
        XCTAssertTrue(final.contains("USR1 received"), final)
        XCTAssertTrue(final.contains("launch 1 ended with exit code 4"), final)
        XCTAssertTrue(final.contains("launch 2 on 1 node(s), 2 rank(s)"), final)
        XCTAssertTrue(final.contains("resumed from \(dir.path)/runs/slurm/checkpoints/" + String(format: "iter_%07d.h5", stoppedAt)), final)
        XCTAssertTrue(final.contains("training finished"), final)

        // The ledger records the Slurm job on the job and on every interval of both launches:
        // --slurm-job selects all of it, another id nothing.
        func report(_ extra: [String]) throws -> [String: Any] {
            let r = try AtelierProcess.run(["report", "--ledger", dir.appendingPathComponent("runs/ledger.sqlite").path,
                                            "--profile", dir.appendingPathComponent("cluster.toml").path, "--json"] + extra)
            XCTAssertEqual(r.status, 0, r.stderr)
            return try XCTUnwrap(try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout + r.stderr)
        }
        let all = try report([]), selected = try report(["--slurm-job", id]), other = try report(["--slurm-job", "999999999"])
        let row = try XCTUnwrap((selected["jobs"] as? [[String: Any]])?.first, "\(selected)")
        XCTAssertEqual(row["launches"] as? Int, 2)
        let slurm = try XCTUnwrap(row["slurm"] as? [String: String], "\(row)")
        XCTAssertEqual(slurm["job_id"], id)
        XCTAssertEqual(slurm["partition"], "test")
        XCTAssertEqual(slurm["nodelist"], "localhost")
        let total = { (r: [String: Any]) in (r["total"] as? [String: Double])?["energy_kwh"] ?? -1 }
        XCTAssertGreaterThan(total(selected), 0)
        XCTAssertEqual(total(selected), total(all), "every interval carries the Slurm job")
        XCTAssertEqual((other["jobs"] as? [Any])?.count, 0)
    }
}
