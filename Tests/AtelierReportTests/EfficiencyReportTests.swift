import AtelierAccounting
import AtelierReport
import Foundation
import XCTest

/// Estimate against actual and lost work by cause in the report, every format.
final class EfficiencyReportTests: XCTestCase {
    var ledger: Ledger!

    /// Job "k" (group "pretraining") estimated 3 device-hours, 0.5 kWh; its first launch is killed
    /// after 2 intervals and the second resumes from iteration 10, so interval 1.2 is redone; each
    /// interval is 100 s, 1 device-hour, 0.2 kWh, with 10 s of start-up, 20 s of evaluation or 5 s of
    /// checkpoint. Job "s" (same group) has no estimate and stalled on its only launch.
    override func setUpWithError() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("atelier-eff-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        ledger = try Ledger(path: dir.appendingPathComponent("ledger.sqlite").path)
        func record(_ id: String) -> JobRecord {
            JobRecord(id: id, name: id, workingGroup: "pretraining", user: "ana", jobHash: "0", profile: "p", site: "s", runDirectory: "/r/\(id)", worldSize: 1)
        }
        func add(_ id: String, segment: Int = 1, _ seq: Int, first: Int, last: Int, _ o: IntervalOverheads) throws {
            var t = AccountingTotals()
            t.deviceSeconds = 3600; t.cpuKWh = 0.1; t.energyKWh = 0.2; t.emissionsKg = 0.02; t.embodiedKg = 0.001
            let start = Double(1_700_000_000 + 1000 * segment + 100 * seq)
            try ledger.apply(.interval(IntervalRecord(jobID: id, segment: segment, sequence: seq, start: start, end: start + 100,
                                                      firstIteration: first, lastIteration: last, tokens: 1000, loss: 3, mfu: 0.4,
                                                      totals: t, overheads: o)))
        }
        let startup = IntervalOverheads(checkpointSeconds: 0, evaluationSeconds: 0, startupSeconds: 10, skippedSeconds: 0)
        let evaluation = IntervalOverheads(checkpointSeconds: 5, evaluationSeconds: 20, startupSeconds: 0, skippedSeconds: 0)
        try ledger.apply(.begin(record("k"), segment: 1, at: 1_700_000_000))
        try ledger.apply(.estimate(EstimateRecord(jobID: "k", at: 1_700_000_000, mfu: 0.5, devicePeakFLOPs: 1e11, tokens: 1e4, modelFlops: 1e15,
                                                  deviceHours: 3, energyKWh: 0.5, operationalKg: 0.05, embodiedKg: 0.0025)))
        try add("k", 1, first: 0, last: 10, startup)
        try add("k", 2, first: 10, last: 20, evaluation)
        try ledger.apply(.begin(record("k"), segment: 2, at: 1_700_002_000))
        try ledger.apply(.lost(jobID: "k", afterIteration: 10, segment: 2))
        try add("k", segment: 2, 1, first: 10, last: 20, startup)
        try add("k", segment: 2, 2, first: 20, last: 30, evaluation)
        try ledger.apply(.launchEnded(jobID: "k", segment: 2, ending: .finished, reason: "done", at: 1_700_003_000))
        try ledger.apply(.end(jobID: "k", status: .finished, reason: "done", at: 1_700_003_000))
        try ledger.apply(.begin(record("s"), segment: 1, at: 1_700_000_000))
        try add("s", 1, first: 0, last: 10, startup)
        try ledger.apply(.launchEnded(jobID: "s", segment: 1, ending: .stall, reason: "rank 1 did not arrive", at: 1_700_001_000))
        try ledger.apply(.end(jobID: "s", status: .failed, reason: "rank 1 did not arrive", at: 1_700_001_000))
    }

    func testEstimateAgainstActual() throws {
        let r = try Report.build(ledger: ledger, filter: ReportFilter())
        let k = try XCTUnwrap(r.jobs.first { $0.name == "k" }?.estimate)
        XCTAssertEqual([k.estimated.deviceHours, k.estimated.energyKWh], [3, 0.5])
        XCTAssertEqual(k.estimated.totalKg, 0.0525, accuracy: 1e-15)
        XCTAssertEqual(k.actual.deviceHours, 4)                                  // 4 intervals, the redone one included
        XCTAssertEqual(k.ratio.deviceHours, 4.0 / 3.0, accuracy: 1e-12)
        XCTAssertEqual(k.ratio.energyKWh, 0.8 / 0.5, accuracy: 1e-12)
        XCTAssertEqual(k.ratio.totalKg, 0.084 / 0.0525, accuracy: 1e-12)
        XCTAssertNil(r.jobs.first { $0.name == "s" }?.estimate)
        let group = try XCTUnwrap(r.groups.first?.estimate)
        XCTAssertEqual(group.jobs, 1)
        XCTAssertEqual(group.actual, k.actual, "the group's actual covers only its jobs with an estimate")
    }

    /// k: 1.2 is redone after a kill; 1.1 and 2.1 have 10% start-up; 2.2 20% evaluation and 5%
    /// checkpoint. Useful: 0.9 + 0.9 + 0.75 of an interval.
    func testLostWorkByCauseAddsUpExactly() throws {
        let r = try Report.build(ledger: ledger, filter: ReportFilter())
        let k = try XCTUnwrap(r.jobs.first { $0.name == "k" }).work
        let hour = Int64(3_600_000_000)       // device-µs in one device-hour
        XCTAssertEqual(k[.restartKilled].deviceMicroseconds, hour)
        XCTAssertEqual(k[.startup].deviceMicroseconds, 2 * hour / 10)
        XCTAssertEqual(k[.evaluation].deviceMicroseconds, hour / 5)
        XCTAssertEqual(k[.checkpoint].deviceMicroseconds, hour / 20)
        XCTAssertEqual(k[.useful].deviceMicroseconds, hour * 255 / 100)
        XCTAssertEqual(k[.useful].energyMicroWh, 200_000_000 * 255 / 100)
        XCTAssertEqual(k.total, WorkUnits(deviceMicroseconds: 4 * hour, energyMicroWh: 800_000_000, operationalMicrograms: 80_000_000,
                                          embodiedMicrograms: 4_000_000))
        XCTAssertEqual(k.goodput!, 2.55 / 4, accuracy: 1e-15)
        let usage = r.jobs.first { $0.name == "k" }!.usage
        XCTAssertEqual(k.total.deviceHours, usage.deviceHours, accuracy: 1e-12)
        XCTAssertEqual(k.total.energyKWh, usage.energyKWh, accuracy: 1e-12)
        XCTAssertEqual(k.total.totalKg, usage.totalKg, accuracy: 1e-12)
        let s = try XCTUnwrap(r.jobs.first { $0.name == "s" }).work
        let group = try XCTUnwrap(r.groups.first).work
        XCTAssertEqual(group, k + s)
        XCTAssertEqual(group.total, WorkCause.allCases.map { group[$0] }.reduce(WorkUnits(), +))
        XCTAssertEqual(group.total.deviceMicroseconds, 5 * hour)
    }

    func testEveryFormatShowsEstimatesAndLostWork() throws {
        let r = try Report.build(ledger: ledger, filter: ReportFilter())
        XCTAssertTrue(r.table.contains("Estimate against actual") && r.table.contains("1.33x"), r.table)
        XCTAssertTrue(r.table.contains("Lost work by cause") && r.table.contains("redone after a restart: launch killed (no record)")
                      && r.table.contains("total, goodput 63.8%"), r.table)
        // CSV: the job-cause rows add up to the job row, in device-µs and µWh
        let rows = r.csv.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let header = rows[0]
        XCTAssertTrue(rows.allSatisfy { $0.count == header.count })
        let level = header.firstIndex(of: "level")!, device = header.firstIndex(of: "device_us")!, uwh = header.firstIndex(of: "energy_uwh")!
        let jobRow = try XCTUnwrap(rows.first { $0[level] == "job" && $0[1] == "k" })
        let causeRows = rows.filter { $0[level] == "job-cause" && $0[1] == "k" }
        XCTAssertEqual(causeRows.count, WorkCause.allCases.count)
        XCTAssertEqual(causeRows.map { Int64($0[device])! }.reduce(0, +), Int64(jobRow[device]))
        XCTAssertEqual(causeRows.map { Int64($0[uwh])! }.reduce(0, +), Int64(jobRow[uwh]))
        XCTAssertEqual(Double(jobRow[header.firstIndex(of: "device_hours_ratio")!])!, 4.0 / 3.0, accuracy: 1e-12)
        XCTAssertEqual(Double(jobRow[header.firstIndex(of: "goodput")!])!, 2.55 / 4, accuracy: 1e-12)
        // JSON
        let json = try JSONSerialization.jsonObject(with: Data(r.json.utf8)) as! [String: Any]
        let job = (json["jobs"] as! [[String: Any]]).first { $0["name"] as? String == "k" }!
        let work = job["lost_work"] as! [String: Any]
        XCTAssertEqual((work["goodput"] as! Double), 2.55 / 4, accuracy: 1e-12)
        XCTAssertEqual(((work["parts"] as! [String: Any])["restart_killed"] as! [String: Any])["device_us"] as? Int, 3_600_000_000)
        XCTAssertEqual(((job["estimate_against_actual"] as! [String: Any])["ratio"] as! [String: Double])["device_hours"]!, 4.0 / 3.0, accuracy: 1e-12)
        let html = r.html
        XCTAssertTrue(html.contains("<h2>Estimate against actual</h2>") && html.contains("<h2>Lost work by cause</h2>") && html.contains("goodput 63.8%"))
        XCTAssertFalse(html.contains("<script") || html.contains("src=") || html.contains("https://"))
    }
}
