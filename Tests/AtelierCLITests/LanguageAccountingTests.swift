import Foundation
import XCTest

/// Cost per language, per token and water through the CLI: a 3-language mixture on 2 ranks.
extension DataPipelineTests {
    /// Every rank's samples are counted per language in the accounting interval's all-reduce; the
    /// report's per-language rows add up to the job's totals exactly (µWh, µg, µL, tokens), its
    /// tokens are the job's, and the validation gains per kWh are there for each language.
    func testPerLanguageCostsAddUpToTheJob() throws {
        let (tokenizer, prefix) = try prepare()
        let job = try writeJob("langs", tokenizer: tokenizer, prefix: prefix)
        let profile = dir.appendingPathComponent("cluster.toml")
        let text = try String(contentsOf: profile, encoding: .utf8)
        try text.replacingOccurrences(of: "pue = 1.5", with: "pue = 1.5\nwater_l_per_kwh = 2").write(to: profile, atomically: true, encoding: .utf8)
        let trained = try AtelierProcess.run(["train", job], ranks: 2)
        XCTAssertEqual(trained.status, 0, trained.stderr)
        let ledger = dir.appendingPathComponent("runs/ledger.sqlite").path

        let json = try AtelierProcess.run(["report", "--ledger", ledger, "--profile", profile.path, "--json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let costs = try XCTUnwrap((report["costs"] as? [String: Any])?["jobs"] as? [[String: Any]])
        XCTAssertEqual(costs.count, 1)
        let figures = try XCTUnwrap(costs[0]["figures"] as? [String: Any])
        let languages = try XCTUnwrap(costs[0]["languages"] as? [[String: Any]])
        XCTAssertEqual(languages.map { $0["language"] as? String }, ["en", "fr", "ru"])
        func int(_ d: [String: Any], _ key: String) -> Int64 { (d[key] as? NSNumber)?.int64Value ?? -1 }
        for key in ["tokens", "energy_uwh", "operational_ug", "embodied_ug", "water_ul"] {
            let parts = languages.map { int($0["figures"] as! [String: Any], key) }
            XCTAssertTrue(parts.allSatisfy { $0 > 0 }, "\(key): \(parts)")
            XCTAssertEqual(parts.reduce(0, +), int(figures, key), key)
        }
        XCTAssertEqual(int(figures, "tokens"), 20 * 8 * 32)   // iterations x global batch x T
        // the job's µWh are its kWh, to half a µWh per interval
        let usage = try XCTUnwrap((report["jobs"] as? [[String: Any]])?.first?["usage"] as? [String: Double])
        XCTAssertEqual(Double(int(figures, "energy_uwh")) / 1e9, usage["energy_kwh"]!, accuracy: 1e-7)
        XCTAssertEqual(figures["water_litres"] as? Double ?? -1, usage["energy_kwh"]! * 2, accuracy: 1e-5)
        let perToken = try XCTUnwrap(figures["cost_per_token"] as? [String: Double])
        // from the job's µWh (its kWh to half a µWh per interval, which is 1e-4 of a job this small)
        XCTAssertEqual(perToken["joules_per_token"]!, Double(int(figures, "energy_uwh")) / 1e9 * 3.6e6 / 5120, accuracy: perToken["joules_per_token"]! * 1e-9)
        let gains = try XCTUnwrap(costs[0]["bits_per_byte_gains"] as? [[String: Any]])
        XCTAssertEqual(gains.map { $0["language"] as? String }, ["en", "fr", "ru"])
        XCTAssertTrue(gains.allSatisfy { $0["from_iteration"] as? Int == 10 && $0["to_iteration"] as? Int == 20 }, "\(gains)")

        // CSV: the job-language rows' µWh add up to the job row's
        let csv = try AtelierProcess.run(["report", "--ledger", ledger, "--csv"])
        XCTAssertEqual(csv.status, 0, csv.stderr)
        let rows = csv.stdout.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let uwh = try XCTUnwrap(rows[0].firstIndex(of: "energy_uwh"))
        let jobRow = try XCTUnwrap(rows.first { $0[0] == "job" })
        XCTAssertEqual(rows.filter { $0[0] == "job-language" }.map { Int64($0[uwh])! }.reduce(0, +), Int64(jobRow[uwh]))

        let html = dir.appendingPathComponent("report.html").path
        XCTAssertEqual(try AtelierProcess.run(["report", "--ledger", ledger, "--html", html]).status, 0)
        let page = try String(contentsOfFile: html, encoding: .utf8)
        XCTAssertTrue(page.contains("<h2>Per language</h2>") && page.contains("% of tokens"), page)

        let estimate = try AtelierProcess.run(["estimate", job, "--mfu", "0.5", "--profile", profile.path])
        XCTAssertEqual(estimate.status, 0, estimate.stderr)
        XCTAssertTrue(estimate.stdout.contains("cost per token: ") && estimate.stdout.contains("J/token")
                      && estimate.stdout.contains("water: off-site ") && estimate.stdout.contains("on-site not known"), estimate.stdout)
    }
}
