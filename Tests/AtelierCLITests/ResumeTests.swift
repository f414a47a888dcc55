import Foundation
import XCTest

/// Stopping and resuming runs through their HDF5 checkpoints.
final class ResumeTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = try temporaryDirectory("resume")
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

    func train(_ job: String, ranks: Int?, _ overrides: [String] = []) throws -> AtelierProcess.Result {
        let r = try AtelierProcess.run(["train", job] + overrides.flatMap { ["--set", $0] }, ranks: ranks)
        XCTAssertEqual(r.status, 0, r.stderr)
        return r
    }

    /// Interrupted at iteration 10 and resumed: the same loss at every later iteration, bit for bit,
    /// and the same final parameter bytes as a run that was never interrupted (2 ranks both times).
    func testResumeAtSameWorldSizeIsBitIdentical() throws {
        let straight = try writeTinyJob(in: dir, name: "straight", micro: 2, extra: "[checkpoint]\ninterval_iterations = 10")
        let a = try train(straight, ranks: 2)
        let interrupted = try writeTinyJob(in: dir, name: "interrupted", micro: 2, extra: "[checkpoint]\ninterval_iterations = 10")
        _ = try train(interrupted, ranks: 2, ["train.iterations=10"])
        let b = try train(interrupted, ranks: 2)
        XCTAssertTrue(b.stdout.contains("resumed from"), b.stdout)
        XCTAssertTrue(b.stdout.contains("at iteration 10, 80 samples consumed (saved on 2 ranks, now 2)"), b.stdout)
        let la = try losses("straight"), lb = try losses("interrupted")
        XCTAssertEqual(lb.count, 20, "records after the checkpoint are not duplicated")
        for i in 1...20 { XCTAssertEqual(la[i], lb[i], "iteration \(i)") }
        XCTAssertEqual(savedHashes(a.stdout).last, savedHashes(b.stdout).last)
        XCTAssertNotNil(savedHashes(a.stdout).last)
    }

    /// Saved on 2 ranks, resumed on 1 (and the other way): the same trajectory within float tolerance.
    func testResumeOnAnotherWorldSize() throws {
        let reference = try writeTinyJob(in: dir, name: "reference", micro: 2)
        _ = try train(reference, ranks: 2)
        let expected = try losses("reference")
        for (first, second) in [(2, 1), (1, 2)] as [(Int, Int)] {
            let name = "from\(first)to\(second)"
            let job = try writeTinyJob(in: dir, name: name, micro: 2)
            _ = try train(job, ranks: first == 1 ? nil : first, ["train.iterations=10"])
            let resumed = try train(job, ranks: second == 1 ? nil : second)
            XCTAssertTrue(resumed.stdout.contains("(saved on \(first) rank\(first == 1 ? "" : "s"), now \(second))"), resumed.stdout)
            let got = try losses(name)
            for i in 11...20 { XCTAssertEqual(got[i]!, expected[i]!, accuracy: 1e-5 * expected[i]!, "\(name) iteration \(i)") }
        }
    }

    func testDamagedNewestCheckpointFallsBackAndShapeMismatchIsRefused() throws {
        let job = try writeTinyJob(in: dir, name: "damaged", micro: 2, extra: "[checkpoint]\ninterval_iterations = 5")
        _ = try train(job, ranks: nil, ["train.iterations=10"])
        let newest = dir.appendingPathComponent("runs/damaged/checkpoints/iter_0000010.h5")
        let bytes = try Data(contentsOf: newest)
        try bytes.prefix(bytes.count / 2).write(to: newest)   // truncated, as by a crash mid-copy
        let resumed = try train(job, ranks: nil, ["train.iterations=12"])
        XCTAssertTrue(resumed.stderr.contains("warning: skipping checkpoint") && resumed.stderr.contains("iter_0000010.h5"), resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("resumed from") && resumed.stdout.contains("iter_0000005.h5 at iteration 5"), resumed.stdout)
        let mismatch = try AtelierProcess.run(["train", job, "--set", "model.hidden_size=64"])
        XCTAssertEqual(mismatch.status, 2)
        XCTAssertTrue(mismatch.stderr.contains("the checkpoint's model.hidden_size is 32 but the job says 64"), mismatch.stderr)
    }

    /// SIGUSR1 (Slurm's warning before the wall-time kill, forwarded by mpirun) to 2 ranks, and
    /// SIGTERM to a single process (as Slurm sends it to each task): the ranks agree, save at the
    /// next iteration boundary and exit with code 4; the same command then resumes.
    func testSignalSavesAndExitsCleanly() throws {
        try XCTSkipUnless(AtelierProcess.isReleaseBuild, "needs a release build: swift test -c release")
        for (name, ranks, signal) in [("usr1", 2, SIGUSR1), ("term", 1, SIGTERM)] {
            let job = try writeTinyJob(in: dir, name: name, micro: 2, extra: "[checkpoint]\ninterval_iterations = 0\n")
            let settings = ["train.iterations=1000000", "schedule.decay_samples=8000000"]
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            let command = [AtelierProcess.executable, "train", job] + settings.flatMap { ["--set", $0] }
            process.arguments = ranks > 1 ? ["mpirun"] + AtelierProcess.mpirunFlags + ["-np", String(ranks)] + command : command
            process.environment = AtelierProcess.cleanEnvironment
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            try process.run()
            // wait for training to be under way
            let metrics = dir.appendingPathComponent("runs/\(name)/metrics.jsonl")
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline && ((try? String(contentsOf: metrics, encoding: .utf8))?.split(separator: "\n").count ?? 0) < 3 {
                usleep(100_000)
            }
            // /usr/bin/env execs its command, so this is atelier itself, or mpirun (which forwards SIGUSR1)
            kill(process.processIdentifier, signal)
            let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 4, "\(name): \(output)")
            XCTAssertTrue(output.contains("stopped by a signal at iteration"), output)
            let latest = try String(contentsOf: dir.appendingPathComponent("runs/\(name)/checkpoints/latest"), encoding: .utf8)
            XCTAssertTrue(latest.hasPrefix("iter_"), latest)
            let stoppedAt = Int(latest.dropFirst(5).prefix(7))!
            let resumed = try train(job, ranks: ranks == 1 ? nil : ranks, ["train.iterations=\(stoppedAt + 2)", settings[1]])
            XCTAssertTrue(resumed.stdout.contains("at iteration \(stoppedAt),"), resumed.stdout)
        }
    }

    /// SIGKILL at arbitrary moments of a run that saves every iteration (so mostly during a save):
    /// `latest` always names a complete checkpoint that verifies, and the run resumes from it.
    func testKillDuringSaveLeavesLatestLoadable() throws {
        try XCTSkipUnless(AtelierProcess.isReleaseBuild, "needs a release build: swift test -c release")
        let job = try writeTinyJob(in: dir, name: "kill", micro: 2, extra: """
            [checkpoint]
            interval_iterations = 1
            keep_last = 2
            """)
        let bigger = ["schedule.decay_samples=8000000", "model.hidden_size=256", "model.layers=4"]
        let overrides = (bigger + ["train.iterations=1000000"]).flatMap { ["--set", $0] }
        let latestURL = dir.appendingPathComponent("runs/kill/checkpoints/latest")
        var iterations: [Int] = []
        for round in 0..<3 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: AtelierProcess.executable)
            process.arguments = ["train", job] + overrides
            process.environment = AtelierProcess.cleanEnvironment
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            let before = try? String(contentsOf: latestURL, encoding: .utf8)
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline && (try? String(contentsOf: latestURL, encoding: .utf8)) == before { usleep(20_000) }
            usleep(UInt32(150_000 + 170_000 * round))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let latest = try String(contentsOf: latestURL, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            let verify = try AtelierProcess.run(["checkpoint", "verify", dir.appendingPathComponent("runs/kill/checkpoints/\(latest)").path])
            XCTAssertEqual(verify.status, 0, "round \(round): \(verify.stderr)")
            iterations.append(Int(latest.dropFirst(5).prefix(7))!)
        }
        // each launch waited for a new checkpoint before it was killed: strictly further every time
        XCTAssertTrue(zip(iterations, iterations.dropFirst()).allSatisfy { $0 < $1 }, "each rerun resumed and went further: \(iterations)")
        XCTAssertGreaterThan(iterations.first ?? 0, 0, "the first launch saved no checkpoint")
        // a resume clears what the kills left half-written
        _ = try train(job, ranks: nil, bigger + ["train.iterations=\(iterations.last! + 1)"])
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("runs/kill/checkpoints").path)
            .filter { $0.contains(".tmp-") }
        XCTAssertEqual(leftovers, [])
    }
}
