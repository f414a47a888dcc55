import Foundation
import XCTest

/// Accounting through the real CLI: the ledger, the checkpoint's totals, budgets, crashes.
final class AccountingTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        try XCTSkipUnless(AtelierProcess.isReleaseBuild, "trains real jobs; run with swift test -c release")
        dir = try temporaryDirectory("accounting")
        try writeCorpus(in: dir)
    }

    override func tearDownWithError() throws {
        if let dir { try? FileManager.default.removeItem(at: dir) }
    }

    var ledger: String { dir.appendingPathComponent("runs/ledger.sqlite").path }

    func report(_ extra: [String] = []) throws -> [String: Any] {
        let r = try AtelierProcess.run(["report", "--ledger", ledger, "--profile", dir.appendingPathComponent("cluster.toml").path, "--json"] + extra)
        XCTAssertEqual(r.status, 0, r.stderr)
        return try XCTUnwrap(try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout + r.stderr)
    }

    /// The accounting values in `atelier checkpoint inspect`.
    func checkpointTotals(_ path: String) throws -> [String: Double] {
        let r = try AtelierProcess.run(["checkpoint", "inspect", path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let line = try XCTUnwrap(r.stdout.split(separator: "\n").first { $0.hasPrefix("accounting: ") }, r.stdout + r.stderr)
        return Dictionary(uniqueKeysWithValues: line.dropFirst("accounting: ".count).split(separator: " ").map {
            let kv = $0.split(separator: "=")
            return (String(kv[0]), kv.count == 2 ? Double(kv[1]) ?? .nan : .nan)
        })
    }

    static func usage(_ job: [String: Any]) -> [String: Double] { job["usage"] as? [String: Double] ?? [:] }

    /// Two ranks on one node are one node: device-seconds are the cores used (2) x wall time, not
    /// 4x; the job's FLOPs are exactly its tokens x (6N + 12LhT); the ledger agrees with the final
    /// checkpoint; emissions.csv is written.
    func testTwoRanksOnOneNodeAreCountedOnce() throws {
        let job = try writeTinyJob(in: dir, name: "pair", micro: 2, extra: "[checkpoint]\ninterval_iterations = 10",
                                   accounting: "interval_seconds = 0.3")
        let r = try AtelierProcess.run(["train", job, "--set", "train.iterations=30"], ranks: 2)
        XCTAssertEqual(r.status, 0, r.stderr)
        let ledgerReport = try report()
        let jobs = try XCTUnwrap(ledgerReport["jobs"] as? [[String: Any]])
        XCTAssertEqual(jobs.count, 1)
        let usage = Self.usage(jobs[0])
        // 30 iterations x 8 sequences x 32 tokens x (6N + 12LhT) with V 260, h 32, L 2, T 32
        let n = 2.0 * 12 * 32 * 32 + 260 * 32
        let flops = 30.0 * 8 * 32 * (6 * n + 12 * 2 * 32 * 32)
        XCTAssertEqual(usage["model_pflops"]!, flops / 1e15, accuracy: flops / 1e15 * 1e-12)
        XCTAssertFalse((jobs[0]["loss"] as? [Any] ?? []).isEmpty)
        // device-hours / wall-hours = cores used on the node = 2 (double counting would give 4)
        XCTAssertEqual(usage["device_hours"]! / usage["wall_hours"]!, 2, accuracy: 0.05)
        let totals = try checkpointTotals(dir.appendingPathComponent("runs/pair/checkpoints/iter_0000030.h5").path)
        XCTAssertEqual(totals["model_flops"]!, flops, accuracy: 1)
        XCTAssertEqual(totals["energy_kwh"]!, usage["energy_kwh"]!, accuracy: 1e-12)
        XCTAssertEqual(totals["emissions_kg"]!, usage["operational_kgco2eq"]!, accuracy: 1e-12)
        let csv = try String(contentsOf: dir.appendingPathComponent("runs/pair/emissions.csv"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.count, 2)
        XCTAssertTrue(csv[0].hasPrefix("timestamp,project_name,run_id,experiment_id,duration,emissions"))
        XCTAssertTrue(r.stdout.contains("accounting: testsite"), r.stdout)
    }

    /// Four jobs training at once into one ledger: every record lands, and the report's totals are
    /// the sum of the jobs', each of which equals its own final checkpoint.
    func testFourJobsWriteOneLedgerAtOnce() throws {
        let names = ["j1", "j2", "j3", "j4"]
        let jobs = try names.map { try writeTinyJob(in: dir, name: $0, micro: 8, extra: "[checkpoint]\ninterval_iterations = 0",
                                                    accounting: "interval_seconds = 0.2") }
        final class Results: @unchecked Sendable { var status: [Int32] = [0, 0, 0, 0]; let lock = NSLock() }
        let results = Results()
        DispatchQueue.concurrentPerform(iterations: 4) { i in
            let r = try! AtelierProcess.run(["train", jobs[i], "--set", "train.iterations=12"])
            results.lock.lock(); results.status[i] = r.status; results.lock.unlock()
            if r.status != 0 { print(r.stderr) }
        }
        XCTAssertEqual(results.status, [0, 0, 0, 0])
        let all = try report()
        let reported = try XCTUnwrap(all["jobs"] as? [[String: Any]])
        XCTAssertEqual(reported.count, 4)
        let total = try XCTUnwrap(all["total"] as? [String: Double])
        for key in ["energy_kwh", "model_pflops", "device_hours", "total_kgco2eq"] {
            XCTAssertEqual(total[key]!, reported.reduce(0) { $0 + Self.usage($1)[key]! }, accuracy: 1e-12, key)
        }
        for job in reported {
            let name = job["name"] as? String ?? "?"
            let totals = try checkpointTotals(dir.appendingPathComponent("runs/\(name)/checkpoints/iter_0000012.h5").path)
            XCTAssertEqual(totals["energy_kwh"]!, Self.usage(job)["energy_kwh"]!, accuracy: 1e-12, name)
            XCTAssertEqual(totals["model_flops"]! / 1e15, Self.usage(job)["model_pflops"]!, accuracy: 1e-12, name)
        }
    }

    /// SIGKILL loses at most the interval in progress; the rerun resumes from the last checkpoint,
    /// marks the work after it lost, and the counted totals then equal the final checkpoint's.
    func testKillLosesAtMostOneIntervalAndResumeDoesNotDoubleCount() throws {
        // a checkpoint every 1.8 s (by time: the tiny model runs thousands of iterations a second, so
        // a count apart would be a race), intervals every 0.25 s: killed 0.8 s after the first save,
        // the work after it (about 3 intervals) is in the ledger and no second save has come
        let job = try writeTinyJob(in: dir, name: "killed", micro: 8, extra: "[checkpoint]\ninterval_iterations = 0\ninterval_minutes = 0.03",
                                   accounting: "interval_seconds = 0.25")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: AtelierProcess.executable)
        process.arguments = ["train", job, "--set", "train.iterations=10000000"]
        process.environment = AtelierProcess.cleanEnvironment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let latestFile = dir.appendingPathComponent("runs/killed/checkpoints/latest").path
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: latestFile) && Date() < deadline { usleep(20_000) }
        usleep(800_000)
        kill(process.processIdentifier, SIGKILL)
        let killedAt = Date().timeIntervalSince1970
        process.waitUntilExit()
        let before = try report()
        let killedJob = try XCTUnwrap((before["jobs"] as? [[String: Any]])?.first)
        let last = try XCTUnwrap(ISO8601DateFormatter().date(from: killedJob["last_record"] as? String ?? ""))
        XCTAssertLessThan(killedAt - last.timeIntervalSince1970, 0.25 + 1.0, "more than one interval lost")
        // rerun the same command, to 40 iterations past the newest checkpoint
        let latest = try String(contentsOf: dir.appendingPathComponent("runs/killed/checkpoints/latest"), encoding: .utf8)
        let resumedAt = try XCTUnwrap(Int(latest.trimmingCharacters(in: .whitespacesAndNewlines).dropFirst(5).prefix(7)))
        let rerun = try AtelierProcess.run(["train", job, "--set", "train.iterations=\(resumedAt + 40)",
                                            "--set", "checkpoint.interval_iterations=40"])
        XCTAssertEqual(rerun.status, 0, rerun.stderr)
        XCTAssertTrue(rerun.stdout.contains("resumed from"), rerun.stdout)
        let after = try report()
        let record = try XCTUnwrap((after["jobs"] as? [[String: Any]])?.first)
        XCTAssertEqual(record["launches"] as? Int, 2)
        XCTAssertEqual(record["status"] as? String, "finished")
        let usage = Self.usage(record)
        XCTAssertGreaterThan(usage["lost_device_hours"]!, 0)
        let totals = try checkpointTotals(dir.appendingPathComponent("runs/killed/checkpoints/" + String(format: "iter_%07d.h5", resumedAt + 40)).path)
        XCTAssertEqual(totals["model_flops"]! / 1e15, usage["model_pflops"]!, accuracy: 1e-12)
        // counted emissions (total minus lost) equal the checkpoint's
        XCTAssertEqual(totals["emissions_kg"]! + totals["embodied_kg"]!, usage["total_kgco2eq"]! - usage["lost_kgco2eq"]!, accuracy: 1e-12)
    }

    /// A working group at 100% of its budget is refused (exit 2) unless --over-budget, which is
    /// recorded; an unknown working group is refused naming the profile; a corrupt ledger is a
    /// clear error for report and only a warning for train (which buffers).
    func testBudgetsAndBadInput() throws {
        _ = try writeTestProfile(in: dir, budget: 0.000001)
        let job = try writeTinyJob(in: dir, name: "spender", micro: 8, accounting: "interval_seconds = 0.2")
        XCTAssertEqual(try AtelierProcess.run(["train", job, "--set", "train.iterations=3"]).status, 0)
        let refused = try AtelierProcess.run(["train", job, "--set", "train.iterations=6"])
        XCTAssertEqual(refused.status, 2, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("working group 'tests'") && refused.stderr.contains("--over-budget"), refused.stderr)
        let forced = try AtelierProcess.run(["train", job, "--set", "train.iterations=6", "--over-budget"])
        XCTAssertEqual(forced.status, 0, forced.stderr)
        XCTAssertTrue(forced.stderr.contains("over budget"), forced.stderr)
        let table = try AtelierProcess.run(["report", "--ledger", ledger, "--profile", dir.appendingPathComponent("cluster.toml").path])
        XCTAssertTrue(table.stdout.contains("warning: working group 'tests' is over its budget"), table.stdout)

        let stranger = try writeTinyJob(in: dir, name: "stranger", micro: 8, workingGroup: "astronomy")
        let unknown = try AtelierProcess.run(["train", stranger])
        XCTAssertEqual(unknown.status, 2)
        XCTAssertTrue(unknown.stderr.contains("working_group") && unknown.stderr.contains("cluster.toml"), unknown.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("runs/stranger").path))

        let garbage = dir.appendingPathComponent("garbage.sqlite").path
        try Data(repeating: 7, count: 4096).write(to: URL(fileURLWithPath: garbage))
        let bad = try AtelierProcess.run(["report", "--ledger", garbage])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains(garbage) && bad.stderr.contains("not a readable ledger"), bad.stderr)
        let buffered = try writeTinyJob(in: dir, name: "buffered", micro: 8, accounting: "ledger = \"\(garbage)\"")
        let trained = try AtelierProcess.run(["train", buffered, "--set", "train.iterations=3"])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        XCTAssertTrue(trained.stderr.contains("training goes on") && trained.stderr.contains("ledger-pending.jsonl"), trained.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent("runs/buffered/ledger-pending.jsonl").path))
    }

    func testReportFormatsFromTheCLI() throws {
        let job = try writeTinyJob(in: dir, name: "formats", micro: 8, accounting: "interval_seconds = 0.2")
        XCTAssertEqual(try AtelierProcess.run(["train", job, "--set", "train.iterations=4"]).status, 0)
        let csv = try AtelierProcess.run(["report", "--ledger", ledger, "--csv", "--group", "tests"])
        XCTAssertEqual(csv.status, 0, csv.stderr)
        // a header, then one row per group and job, and their rows per cause of lost work
        let kinds = csv.stdout.split(separator: "\n").dropFirst().map { $0.split(separator: ",").first.map(String.init) ?? "" }
        XCTAssertEqual(kinds.filter { $0 == "group" }.count, 1, csv.stdout)
        XCTAssertEqual(kinds.filter { $0 == "job" }.count, 1, csv.stdout)
        XCTAssertEqual(Set(kinds), ["group", "job", "group-cause", "job-cause"], csv.stdout)
        let html = dir.appendingPathComponent("report.html").path
        let page = try AtelierProcess.run(["report", "--ledger", ledger, "--html", html, "--since", "2000-01-01"])
        XCTAssertEqual(page.status, 0, page.stderr)
        XCTAssertTrue(try String(contentsOfFile: html, encoding: .utf8).contains("<svg"))
        let badDate = try AtelierProcess.run(["report", "--ledger", ledger, "--since", "yesterday"])
        XCTAssertEqual(badDate.status, 2)
        XCTAssertTrue(badDate.stderr.contains("--since yesterday"), badDate.stderr)
        let none = try AtelierProcess.run(["report", "--ledger", dir.appendingPathComponent("none.sqlite").path])
        XCTAssertEqual(none.status, 2)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("none.sqlite").path))
    }
}
