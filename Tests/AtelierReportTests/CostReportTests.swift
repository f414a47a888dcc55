import AtelierAccounting
import AtelierReport
import Foundation
import XCTest

/// Cost per token, per language and water in the report.
final class CostReportTests: XCTestCase {
    var ledger: Ledger!

    /// Job "m" trains French and Basque 3:1 then 1:1, with water known off-site only; it is
    /// resumed from iteration 10, so launch 1's interval (10, 20] is lost. Job "r" (random data,
    /// no languages, no water known) is in the same group.
    override func setUpWithError() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("atelier-cost-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        ledger = try Ledger(path: dir.appendingPathComponent("ledger.sqlite").path)
        func record(_ id: String) -> JobRecord {
            JobRecord(id: id, name: id, workingGroup: "multilinguality", user: "ana", jobHash: "0", profile: "p", site: "s", runDirectory: "/r/\(id)", worldSize: 2)
        }
        func add(_ id: String, segment: Int = 1, _ seq: Int, first: Int, last: Int, kWh: Double, languages: [LanguageTokens]?, water: WaterUse?) throws {
            var t = AccountingTotals()
            t.deviceSeconds = 3600; t.cpuKWh = kWh / 1.5; t.energyKWh = kWh; t.emissionsKg = kWh * 0.05; t.embodiedKg = 0.001
            try ledger.apply(.interval(IntervalRecord(jobID: id, segment: segment, sequence: seq, start: Double(1_700_000_000 + 100 * seq + 1000 * segment),
                                                      end: Double(1_700_000_100 + 100 * seq + 1000 * segment), firstIteration: first, lastIteration: last,
                                                      tokens: 4000, loss: 3, mfu: 0.4, totals: t, languages: languages, water: water)))
        }
        let mixed = [LanguageTokens(language: "fr", tokens: 3000), LanguageTokens(language: "eu", tokens: 1000)]
        let even = [LanguageTokens(language: "fr", tokens: 2000), LanguageTokens(language: "eu", tokens: 2000)]
        try ledger.apply(.begin(record("m"), segment: 1, at: 1_700_000_000))
        try add("m", 1, first: 0, last: 10, kWh: 0.4, languages: mixed, water: WaterUse(offsiteLitres: 0.4 * 2.5, onsiteLitres: nil))
        try add("m", 2, first: 10, last: 20, kWh: 0.4, languages: mixed, water: WaterUse(offsiteLitres: 0.4 * 2.5, onsiteLitres: nil))
        try ledger.apply(.validation(jobID: "m", iteration: 10, results: [ValidationRecord(dataset: "fr", loss: 3, bitsPerByte: 2.0),
                                                                          ValidationRecord(dataset: "eu", loss: 3, bitsPerByte: 2.5)], at: 1))
        try ledger.apply(.begin(record("m"), segment: 2, at: 1_700_002_000))
        try ledger.apply(.lost(jobID: "m", afterIteration: 10, segment: 2))
        try add("m", segment: 2, 1, first: 10, last: 15, kWh: 0.2, languages: even, water: WaterUse(offsiteLitres: 0.2 * 2.5, onsiteLitres: nil))
        try add("m", segment: 2, 2, first: 15, last: 20, kWh: 0.3, languages: even, water: WaterUse(offsiteLitres: 0.3 * 2.5, onsiteLitres: nil))
        try ledger.apply(.validation(jobID: "m", iteration: 20, results: [ValidationRecord(dataset: "fr", loss: 2.5, bitsPerByte: 1.8),
                                                                          ValidationRecord(dataset: "eu", loss: 2.9, bitsPerByte: 2.4)], at: 2))
        try ledger.apply(.begin(record("r"), segment: 1, at: 1_700_000_000))
        try add("r", 1, first: 0, last: 10, kWh: 1.0, languages: nil, water: WaterUse(offsiteLitres: nil, onsiteLitres: nil))
    }

    func testLanguagesAddUpToTheirJobAndGroupExactly() throws {
        let r = try Report.build(ledger: ledger, filter: ReportFilter())
        let m = try XCTUnwrap(r.costs.jobs.first { $0.name == "m" })
        XCTAssertEqual(m.languages.map(\.language), ["eu", "fr"])
        func sum(_ l: [LanguageCost]) -> CostFigures { l.map(\.figures).reduce(CostFigures(), +) }
        XCTAssertEqual(sum(m.languages), m.figures)
        XCTAssertEqual(m.figures.energyMicroWh, 1_300_000_000)          // 0.4 + 0.4 (lost) + 0.2 + 0.3 kWh
        XCTAssertEqual(m.figures.tokens, 12_000)                         // the lost interval's 4,000 tokens are not kept
        let fr = m.languages[1].figures
        XCTAssertEqual(fr.tokens, 3000 + 2000 + 2000)
        XCTAssertEqual(fr.energyMicroWh, 300_000_000 + 300_000_000 + 100_000_000 + 150_000_000)
        XCTAssertEqual(fr.waterMicrolitres, 2_125_000)                   // 0.85 kWh x 2.5 L/kWh
        // J/token over the kept tokens, lost work's energy included: 0.85 kWh x 3.6e6 / 7,000
        XCTAssertEqual(fr.perToken!.joulesPerToken, 0.85 * 3.6e6 / 7000, accuracy: 1e-9)
        XCTAssertEqual(fr.perToken!.operationalGramsPerMillionTokens, 0.85 * 0.05 * 1e9 / 7000, accuracy: 1e-6)
        XCTAssertEqual(m.water.offsiteLitres!, 1.3 * 2.5, accuracy: 1e-12)
        XCTAssertEqual(m.water.includes, "off-site only (site.wue not known)")

        let job = r.costs.jobs.first { $0.name == "r" }!
        XCTAssertEqual(job.languages, [])
        XCTAssertNil(job.water.litres)
        XCTAssertNil(job.figures.waterMicrolitres)
        let group = try XCTUnwrap(r.costs.groups.first)
        XCTAssertEqual(group.figures, m.figures + job.figures)
        XCTAssertEqual(sum(group.languages), m.figures)                  // r has no languages
        XCTAssertNil(group.water.litres)                                 // r's water is not known: the group's is not either
    }

    /// (10, 20]: French went from 2.0 to 1.8 bpb on 0.1 + 0.15 kWh (the counted intervals; the
    /// lost one is not what the validation at 20 measured).
    func testBitsPerByteGainedPerKWh() throws {
        let r = try Report.build(ledger: ledger, filter: ReportFilter())
        let gains = r.costs.jobs.first { $0.name == "m" }!.gains
        XCTAssertEqual(gains.map(\.language), ["eu", "fr"])
        XCTAssertEqual(gains.map(\.fromIteration), [10, 10])
        XCTAssertEqual(gains.map(\.toIteration), [20, 20])
        XCTAssertEqual(gains[1].energyKWh, 0.25)
        XCTAssertEqual(gains[1].perKWh, 0.2 / 0.25, accuracy: 1e-12)
        XCTAssertEqual(gains[0].perKWh, 0.1 / 0.25, accuracy: 1e-9)
    }

    func testEveryFormatShowsTheLanguages() throws {
        let r = try Report.build(ledger: ledger, filter: ReportFilter())
        XCTAssertTrue(r.table.contains("Per language") && r.table.contains("not known") && r.table.contains("bpb/kWh"), r.table)
        // CSV: the job-language rows' exact decimals add up to the job's µWh
        let rows = r.csv.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let header = rows[0]
        let level = header.firstIndex(of: "level")!, energy = header.firstIndex(of: "energy_kwh")!, uwh = header.firstIndex(of: "energy_uwh")!
        let languageRows = rows.filter { $0[level] == "job-language" }
        XCTAssertEqual(languageRows.map { $0[header.firstIndex(of: "language")!] }, ["eu", "fr"])
        XCTAssertEqual(languageRows.map { Int64($0[uwh])! }.reduce(0, +), 1_300_000_000)
        XCTAssertEqual(languageRows.map { $0[energy] }, ["0.450000000", "0.850000000"])
        let jobRow = rows.first { $0[level] == "job" && $0[1] == "r" }!
        XCTAssertEqual(jobRow[header.firstIndex(of: "water_litres")!], "")      // not known: empty, not 0
        // JSON: null where not known
        let json = try JSONSerialization.jsonObject(with: Data(r.json.utf8)) as! [String: Any]
        let jobs = (json["costs"] as! [String: Any])["jobs"] as! [[String: Any]]
        let rFigures = jobs.first { $0["name"] as? String == "r" }!["figures"] as! [String: Any]
        XCTAssertTrue(rFigures["water_litres"] is NSNull)
        let html = r.html
        XCTAssertTrue(html.contains("<h2>Per language</h2>") && html.contains("% of tokens"))
        XCTAssertFalse(html.contains("<script") || html.contains("src=") || html.contains("https://"))
    }
}
