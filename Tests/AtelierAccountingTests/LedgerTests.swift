import AtelierAccounting
import AtelierCheckpoint
import Foundation
import GRDB
import XCTest

func temporaryPath(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("atelier-acc-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent(name).path
}

func job(_ id: String, group: String = "tokenization") -> JobRecord {
    JobRecord(id: id, name: "job-\(id)", workingGroup: group, user: "u", jobHash: "h", profile: "p.toml", site: "s",
              runDirectory: "/tmp/\(id)", worldSize: 1)
}

func interval(_ id: String, segment: Int = 1, _ seq: Int, iterations: ClosedRange<Int>, kWh: Double = 0.5) -> IntervalRecord {
    var t = AccountingTotals()
    t.modelFlops = Double(iterations.count) * 1e12
    t.hardwareFlops = t.modelFlops
    t.deviceSeconds = 7200
    t.energyKWh = kWh
    t.emissionsKg = kWh * 0.1
    t.embodiedKg = 0.01
    return IntervalRecord(jobID: id, segment: segment, sequence: seq, start: Double(seq), end: Double(seq) + 1,
                          firstIteration: iterations.lowerBound - 1, lastIteration: iterations.upperBound, tokens: 100,
                          loss: 2.0, mfu: 0.5, totals: t)
}

final class LedgerTests: XCTestCase {
    /// Several writers at once (each its own connection, as separate jobs are): nothing lost or
    /// doubled, and the totals are the sum of the parts.
    func testConcurrentWritersAndTotals() throws {
        let path = temporaryPath("ledger.sqlite")
        let writers = 6, intervals = 40
        final class Errors: @unchecked Sendable { let lock = NSLock(); var list: [String] = [] }
        let errors = Errors()
        DispatchQueue.concurrentPerform(iterations: writers) { w in
            do {
                let ledger = try Ledger(path: path)
                try ledger.apply(.begin(job("j\(w)"), segment: 1, at: 0))
                for i in 1...intervals { try ledger.apply(.interval(interval("j\(w)", i, iterations: (i * 10 - 9)...(i * 10)))) }
                try ledger.apply(.end(jobID: "j\(w)", status: .finished, reason: "done", at: 1))
            } catch {
                errors.lock.lock(); errors.list.append("writer \(w): \(error)"); errors.lock.unlock()
            }
        }
        XCTAssertEqual(errors.list, [])
        let ledger = try Ledger(path: path)
        XCTAssertEqual(try ledger.jobs().count, writers)
        XCTAssertEqual(try ledger.intervals().count, writers * intervals)
        for w in 0..<writers {
            let t = try ledger.totals(jobID: "j\(w)")
            XCTAssertEqual(t.modelFlops, Double(intervals * 10) * 1e12)
            XCTAssertEqual(t.energyKWh, Double(intervals) * 0.5, accuracy: 1e-9)
        }
        XCTAssertEqual(try ledger.usedDeviceHours(workingGroup: "tokenization"), Double(writers * intervals) * 2, accuracy: 1e-9)
        XCTAssertEqual(try ledger.jobs().map(\.status), Array(repeating: "finished", count: writers))
    }

    /// A retried interval is stored once; a resume marks later work lost and keeps it out of the
    /// counted totals (which then equal the checkpoint's).
    func testRetriesAndResumeDoNotDoubleCount() throws {
        let ledger = try Ledger(path: temporaryPath("ledger.sqlite"))
        try ledger.apply(.begin(job("a"), segment: 1, at: 0))
        for i in 1...5 { try ledger.apply(.interval(interval("a", i, iterations: (i * 10 - 9)...(i * 10)))) }
        try ledger.apply(.interval(interval("a", 3, iterations: 21...30)))   // a retry
        XCTAssertEqual(try ledger.intervals().count, 5)
        // killed after iteration 50; the newest checkpoint was at iteration 30; launch 2 resumes there
        try ledger.apply(.begin(job("a"), segment: 2, at: 10))
        try ledger.apply(.lost(jobID: "a", afterIteration: 30, segment: 2))
        try ledger.apply(.interval(interval("a", segment: 2, 1, iterations: 31...40)))
        XCTAssertEqual(try ledger.totals(jobID: "a").modelFlops, 40e12)            // iterations 1-40 once
        XCTAssertEqual(try ledger.totals(jobID: "a", lost: true).modelFlops, 20e12) // 31-50 of launch 1
        XCTAssertEqual(try ledger.jobs().first?.launches, 2)
        XCTAssertEqual(try ledger.usedDeviceHours(workingGroup: "tokenization"), 6 * 2, accuracy: 1e-9)  // lost work was consumed
    }

    func testCorruptLedgerIsAClearError() throws {
        let path = temporaryPath("ledger.sqlite")
        try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try Ledger(path: path)) { e in
            let text = "\(e)"
            XCTAssertTrue(text.contains(path) && text.contains("not a readable ledger"), text)
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), Data(repeating: 0x41, count: 8192))  // untouched
    }

    /// A spill line that does not decode is named (file and line), moved aside and not replayed;
    /// the records around it are replayed. It used to vanish without a word.
    func testUnreadableSpillLinesAreReportedAndKept() throws {
        let spill = temporaryPath("torn-pending.jsonl")
        final class Warnings: @unchecked Sendable { var lines: [String] = [] }
        let warnings = Warnings()
        let blocked = temporaryPath("not-a-dir-either")
        try "a file".write(toFile: blocked, atomically: true, encoding: .utf8)
        let first = LedgerWriter(ledgerPath: blocked + "/ledger.sqlite", spillPath: spill, warn: { _ in })
        first.submit(.begin(job("t"), segment: 1, at: 0))
        first.submit(.interval(interval("t", 1, iterations: 1...10)))
        first.close()
        var lines = try String(contentsOfFile: spill, encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 2)
        lines.insert("{\"torn\": ", at: 1)
        try (lines.joined(separator: "\n") + "\n").write(toFile: spill, atomically: true, encoding: .utf8)
        let good = temporaryPath("replayed.sqlite")
        let next = LedgerWriter(ledgerPath: good, spillPath: spill, warn: { warnings.lines.append($0) })
        XCTAssertEqual(next.flush(), 0)
        next.close()
        XCTAssertEqual(warnings.lines.count, 1, "\(warnings.lines)")
        XCTAssertTrue(warnings.lines[0].contains("\(spill):2: not a ledger record") && warnings.lines[0].contains("{\"torn\":"), warnings.lines[0])
        XCTAssertEqual(try String(contentsOfFile: LedgerWriter.unreadablePath(spill), encoding: .utf8), "{\"torn\": \n")
        XCTAssertEqual(try Ledger(path: good).totals(jobID: "t").modelFlops, 10e12)
    }

    /// An unreachable ledger: operations are kept, warned about once, spilled at the end, and
    /// written by the next writer of the same run directory.
    func testUnreachableLedgerBuffersSpillsAndReplays() throws {
        let spill = temporaryPath("ledger-pending.jsonl")
        final class Warnings: @unchecked Sendable { var lines: [String] = [] }
        let warnings = Warnings()
        let blocked = temporaryPath("not-a-dir")
        try "a file".write(toFile: blocked, atomically: true, encoding: .utf8)
        let writer = LedgerWriter(ledgerPath: blocked + "/ledger.sqlite", spillPath: spill, warn: { warnings.lines.append($0) })
        writer.submit(.begin(job("b"), segment: 1, at: 0))
        for i in 1...3 { writer.submit(.interval(interval("b", i, iterations: (i * 10 - 9)...(i * 10)))) }
        XCTAssertEqual(writer.flush(), 4)
        writer.close()
        XCTAssertEqual(warnings.lines.count, 2, "\(warnings.lines)")   // once when it failed, once at the spill
        XCTAssertTrue(warnings.lines[0].contains("buffered"), warnings.lines[0])
        XCTAssertTrue(warnings.lines[1].contains(spill), warnings.lines[1])
        let good = temporaryPath("ledger.sqlite")
        let next = LedgerWriter(ledgerPath: good, spillPath: spill, warn: { warnings.lines.append($0) })
        next.submit(.end(jobID: "b", status: .finished, reason: "done", at: 2))
        XCTAssertEqual(next.flush(), 0)
        next.close()
        XCTAssertFalse(FileManager.default.fileExists(atPath: spill))
        let ledger = try Ledger(path: good)
        XCTAssertEqual(try ledger.totals(jobID: "b").modelFlops, 30e12)
        XCTAssertEqual(try ledger.jobs().first?.status, "finished")
    }

    /// A ledger another process holds locked (an exclusive transaction) longer than the busy
    /// timeout: the records are buffered with one warning naming the lock, nothing is lost, and
    /// they are written once the lock is released.
    func testLockedLedgerBuffersUntilReleased() throws {
        let path = temporaryPath("locked.sqlite")
        _ = try Ledger(path: path)
        final class Warnings: @unchecked Sendable { var lines: [String] = [] }
        let warnings = Warnings()
        let locker = try DatabaseQueue(path: path)
        let acquired = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0), released = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            try? locker.inTransaction(.exclusive) { _ in
                acquired.signal()
                release.wait()
                return .commit
            }
            released.signal()
        }
        acquired.wait()
        let writer = LedgerWriter(ledgerPath: path, spillPath: temporaryPath("locked-pending.jsonl"), busyTimeout: 0.2,
                                  warn: { warnings.lines.append($0) })
        writer.submit(.begin(job("l"), segment: 1, at: 0))
        for i in 1...3 { writer.submit(.interval(interval("l", i, iterations: (i * 10 - 9)...(i * 10)))) }
        XCTAssertEqual(writer.flush(), 4, "nothing can be written while the ledger is locked")
        XCTAssertEqual(warnings.lines.count, 1, "\(warnings.lines)")
        XCTAssertTrue(warnings.lines[0].contains("locked"), warnings.lines[0])
        release.signal()
        released.wait()
        XCTAssertEqual(writer.flush(), 0)
        writer.close()
        XCTAssertEqual(try Ledger(path: path).totals(jobID: "l").modelFlops, 30e12)
        XCTAssertTrue(warnings.lines.last!.contains("writable again"), "\(warnings.lines)")
    }
}

final class MeasurementTests: XCTestCase {
    /// RAPL counters from a synthetic powercap tree, across a wrap-around.
    func testRAPLCountersAcrossWrapAround() throws {
        let root = temporaryPath("powercap")
        let zone = root + "/intel-rapl:0"
        try FileManager.default.createDirectory(atPath: zone + "/intel-rapl:0:0", withIntermediateDirectories: true)
        try "1000000000\n".write(toFile: zone + "/max_energy_range_uj", atomically: true, encoding: .utf8)
        try "999000000\n".write(toFile: zone + "/energy_uj", atomically: true, encoding: .utf8)
        let accountant = NodeAccountant(pids: [getpid()], powercapRoot: root, sampleSeconds: 3600)
        XCTAssertTrue(accountant.measuresEnergy)
        try "2000000\n".write(toFile: zone + "/energy_uj", atomically: true, encoding: .utf8)   // wrapped: +3 J
        let r = accountant.take()
        XCTAssertEqual(r.cpuJoules ?? -1, 3, accuracy: 1e-9)
        XCTAssertFalse(NodeAccountant(pids: [getpid()], powercapRoot: root + "/none").measuresEnergy)
    }

    /// The sampling timer (every millisecond here) and `take` read the same counters: every
    /// joule the counter advanced is counted once, however their reads interleave (the RAPL
    /// state used to change outside the lock: a data race under TSan, and deltas counted twice).
    func testTimerAndTakeCountEveryJouleOnce() throws {
        let root = temporaryPath("powercap-race")
        let zone = root + "/intel-rapl:0"
        try FileManager.default.createDirectory(atPath: zone, withIntermediateDirectories: true)
        try "1000000000000\n".write(toFile: zone + "/max_energy_range_uj", atomically: true, encoding: .utf8)
        try "0\n".write(toFile: zone + "/energy_uj", atomically: true, encoding: .utf8)
        let accountant = NodeAccountant(pids: [getpid()], powercapRoot: root, sampleSeconds: 0.001)
        var counted = 0.0
        for step in 1...300 {
            try "\(step * 1_000_000)\n".write(toFile: zone + "/energy_uj", atomically: true, encoding: .utf8)   // +1 J
            if step % 3 == 0 { counted += accountant.take().cpuJoules ?? 0 }
        }
        counted += accountant.take().cpuJoules ?? 0
        XCTAssertEqual(counted, 300, accuracy: 1e-9)
    }

    /// The job's CPU time comes from /proc: burning CPU shows up.
    func testCPUTimeOfTheJobsProcesses() {
        let accountant = NodeAccountant(pids: [getpid()], powercapRoot: "/nonexistent")
        var x = 1.0
        // burn 0.3 s of this process's CPU time (not wall time: the machine may be busy)
        let start = Double(clock()) / Double(CLOCKS_PER_SEC)
        while Double(clock()) / Double(CLOCKS_PER_SEC) - start < 0.3 { x = (x * 1.000001).truncatingRemainder(dividingBy: 7) + 1 }
        let r = accountant.take()
        withExtendedLifetime(x) {}   // the loop's work is kept
        XCTAssertGreaterThan(r.cpuSeconds, 0.25)
        XCTAssertLessThan(r.cpuSeconds, r.seconds * Double(ProcessInfo.processInfo.activeProcessorCount) + 0.05)
        XCTAssertNil(r.cpuJoules)
    }
}

final class EmissionsCSVTests: XCTestCase {
    func testCodeCarbonColumnsAndUnits() throws {
        let path = temporaryPath("emissions.csv")
        let profile = try ClusterProfile.parse(text: ProfileTests.valid.replacingOccurrences(of: "carbon_intensity = 100", with: "country = \"FRA\""),
                                               file: "t.toml")
        let csv = EmissionsCSV(path: path, profile: profile, project: "tokenization", experiment: "job", nodes: 1)
        var t = AccountingTotals()
        t.cpuKWh = 0.01; t.ramKWh = 0.002; t.staticKWh = 0.001; t.energyKWh = 0.013 * 1.5; t.emissionsKg = 0.0195 * 0.056
        try csv.update(runID: "run-1", seconds: 3600, totals: t)
        try csv.update(runID: "run-2", seconds: 60, totals: AccountingTotals())
        try csv.update(runID: "run-1", seconds: 7200, totals: t)   // rewritten in place
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines[0], "timestamp,project_name,run_id,experiment_id,duration,emissions,emissions_rate,cpu_power,gpu_power,ram_power,cpu_energy,gpu_energy,ram_energy,energy_consumed,country_name,country_iso_code,region,cloud_provider,cloud_region,os,python_version,codecarbon_version,cpu_count,cpu_model,gpu_count,gpu_model,longitude,latitude,ram_total_size,tracking_mode,on_cloud,pue")
        XCTAssertEqual(lines.count, 3)
        let header = lines[0].split(separator: ",").map(String.init)
        let row = Dictionary(uniqueKeysWithValues: zip(header, lines[2].split(separator: ",", omittingEmptySubsequences: false).map(String.init)))
        XCTAssertEqual(row["run_id"], "run-1")
        XCTAssertEqual(Double(row["duration"]!)!, 7200)
        XCTAssertEqual(Double(row["emissions"]!)!, t.emissionsKg, accuracy: 1e-15)            // kg
        XCTAssertEqual(Double(row["emissions_rate"]!)!, t.emissionsKg / 7200, accuracy: 1e-15) // kg/s
        XCTAssertEqual(Double(row["cpu_power"]!)!, 0.01 * 3.6e6 / 7200, accuracy: 1e-9)       // W
        XCTAssertEqual(Double(row["cpu_energy"]!)!, 0.01 * 1.5, accuracy: 1e-12)               // kWh, with PUE
        XCTAssertEqual(Double(row["energy_consumed"]!)!, t.energyKWh, accuracy: 1e-12)         // kWh
        XCTAssertEqual(row["country_iso_code"], "FRA")
        XCTAssertEqual(row["pue"], "1.5")
        XCTAssertEqual(row["project_name"], "tokenization")
        XCTAssertEqual(Double(row["ram_total_size"]!)!, 16)
    }
}
