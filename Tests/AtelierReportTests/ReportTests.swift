import AtelierAccounting
import AtelierCheckpoint
import AtelierReport
import Foundation
import XCTest

final class ReportTests: XCTestCase {
    var ledger: Ledger!

    /// Three jobs in two groups; job c was resumed and lost one interval.
    override func setUpWithError() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("atelier-report-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        ledger = try Ledger(path: dir.appendingPathComponent("ledger.sqlite").path)
        func record(_ id: String, _ group: String) -> JobRecord {
            JobRecord(id: id, name: id, workingGroup: group, user: "ana", jobHash: "0", profile: "p", site: "s", runDirectory: "/r/\(id)", worldSize: 2)
        }
        func add(_ id: String, segment: Int = 1, _ seq: Int, end: Double, last: Int, kWh: Double, loss: Double) throws {
            var t = AccountingTotals()
            t.modelFlops = 1e15; t.hardwareFlops = 1e15; t.deviceSeconds = 3600; t.nodeSeconds = 1800
            t.cpuKWh = kWh / 2; t.energyKWh = kWh; t.emissionsKg = kWh * 0.05; t.embodiedKg = 0.01
            try ledger.apply(.interval(IntervalRecord(jobID: id, segment: segment, sequence: seq, start: end - 100, end: end,
                                                      firstIteration: last - 10, lastIteration: last, tokens: 1000, loss: loss,
                                                      mfu: 0.4, totals: t)))
        }
        try ledger.apply(.begin(record("a", "tokenization"), segment: 1, at: 1_700_000_000))
        try add("a", 1, end: 1_700_000_100, last: 10, kWh: 1, loss: 3)
        try add("a", 2, end: 1_700_000_200, last: 20, kWh: 1, loss: 2.5)
        try ledger.apply(.end(jobID: "a", status: .finished, reason: "done", at: 1_700_000_200))
        try ledger.apply(.begin(record("b", "tokenization"), segment: 1, at: 1_700_086_400))
        try add("b", 1, end: 1_700_086_500, last: 10, kWh: 2, loss: 3.1)
        try ledger.apply(.begin(record("c", "biomedical"), segment: 1, at: 1_700_000_000))
        try add("c", 1, end: 1_700_000_100, last: 10, kWh: 4, loss: 4)
        try add("c", 2, end: 1_700_000_200, last: 20, kWh: 4, loss: 3.5)
        try ledger.apply(.begin(record("c", "biomedical"), segment: 2, at: 1_700_000_300))
        try ledger.apply(.lost(jobID: "c", afterIteration: 10, segment: 2))
        try add("c", segment: 2, 1, end: 1_700_000_400, last: 20, kWh: 4, loss: 3.4)
    }

    func testGroupsAreTheSumOfTheirJobsAndBudgetsShow() throws {
        let r = try Report.build(ledger: ledger, filter: ReportFilter(), budgets: ["tokenization": 3.5, "biomedical": nil])
        XCTAssertEqual(r.jobs.map(\.name), ["a", "c", "b"])
        let tok = r.groups.first { $0.name == "tokenization" }!
        XCTAssertEqual(tok.jobs, 2)
        XCTAssertEqual(tok.usage.energyKWh, 4, accuracy: 1e-12)
        XCTAssertEqual(tok.usage.deviceHours, 3, accuracy: 1e-12)
        XCTAssertEqual(tok.budgetUsed!, 3 / 3.5, accuracy: 1e-12)
        XCTAssertTrue(r.warnings.contains { $0.contains("tokenization") && $0.contains("86%") }, "\(r.warnings)")
        let c = r.jobs.first { $0.name == "c" }!
        XCTAssertEqual(c.launches, 2)
        XCTAssertEqual(c.usage.energyKWh, 12, accuracy: 1e-12)          // all energy consumed, lost included
        XCTAssertEqual(c.usage.modelPFLOPs, 2, accuracy: 1e-12)         // but only the work kept counts as FLOPs
        XCTAssertEqual(c.usage.lostKg, 4 * 0.05 + 0.01, accuracy: 1e-12)
        XCTAssertEqual(c.loss.map(\.iteration), [10, 20])
        XCTAssertEqual(r.total.energyKWh, r.groups.reduce(0) { $0 + $1.usage.energyKWh }, accuracy: 1e-12)
        XCTAssertEqual(r.total.totalKg, r.jobs.reduce(0) { $0 + $1.usage.totalKg }, accuracy: 1e-12)
        XCTAssertEqual(r.cumulativeEmissions.last!.cumulativeKg, r.total.totalKg, accuracy: 1e-12)
        XCTAssertEqual(tok.usage.meanMFU!, 0.4, accuracy: 1e-12)
    }

    func testFilters() throws {
        XCTAssertEqual(try Report.build(ledger: ledger, filter: ReportFilter(group: "biomedical")).jobs.map(\.name), ["c"])
        XCTAssertEqual(try Report.build(ledger: ledger, filter: ReportFilter(job: "b")).jobs.map(\.name), ["b"])
        let late = try Report.build(ledger: ledger, filter: ReportFilter(since: Date(timeIntervalSince1970: 1_700_050_000)))
        XCTAssertEqual(late.jobs.map(\.name), ["b"])
        let early = try Report.build(ledger: ledger, filter: ReportFilter(until: Date(timeIntervalSince1970: 1_700_000_150)))
        XCTAssertEqual(early.total.energyKWh, 5, accuracy: 1e-12)
    }

    func testEveryFormat() throws {
        let r = try Report.build(ledger: ledger, filter: ReportFilter(), budgets: ["tokenization": 10])
        XCTAssertTrue(r.table.contains("tokenization") && r.table.contains("biomedical") && r.table.contains("30% of 10"), r.table)
        XCTAssertTrue(r.table.contains("running (2 launches)"), r.table)
        let csvLines = r.csv.split(separator: "\n")
        XCTAssertEqual(csvLines.count, 1 + 2 + 3 + (2 + 3) * WorkCause.allCases.count)   // header, groups, jobs, their causes
        XCTAssertEqual(csvLines.filter { $0.hasPrefix("group,") || $0.hasPrefix("job,") }.count, 2 + 3)
        XCTAssertTrue(csvLines[0].hasPrefix("level,name,working_group"))
        let decoded = try JSONSerialization.jsonObject(with: Data(r.json.utf8)) as! [String: Any]
        XCTAssertEqual((decoded["jobs"] as! [Any]).count, 3)
        XCTAssertEqual(((decoded["total"] as! [String: Any])["energy_kwh"] as! Double), 16, accuracy: 1e-9)
        let html = r.html
        XCTAssertTrue(html.hasPrefix("<!DOCTYPE html>"))
        XCTAssertEqual(html.components(separatedBy: "<svg").count - 1, 3)   // per group, over time, loss
        XCTAssertTrue(html.contains("polyline"))
        // no address but the SVG namespace: the page loads nothing from anywhere
        XCTAssertEqual(html.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "").contains("http://"), false)
        XCTAssertFalse(html.contains("<script") || html.contains("src=") || html.contains("https://"))
    }
}
