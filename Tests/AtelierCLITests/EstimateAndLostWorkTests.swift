import Foundation
import XCTest

/// Calibrated estimates and lost work by cause through the CLI: a short mixture run on 1 rank.
extension DataPipelineTests {
    /// 20 iterations with evaluations and saves at 10 and 20: the ledger has the estimate of the
    /// first launch, nonzero start-up, evaluation and checkpoint time (the save at 10 blocks the
    /// interval after it), the causes add up to the job exactly; `atelier estimate` then calibrates
    /// with this one finished job, and says so when a ledger has no history.
    func testEstimateRecordedAndLostWorkByCause() throws {
        let (tokenizer, prefix) = try prepare()
        let job = try writeJob("overheads", tokenizer: tokenizer, prefix: prefix)
        let profile = dir.appendingPathComponent("cluster.toml")
        let text = try String(contentsOf: profile, encoding: .utf8)
        try text.replacingOccurrences(of: "site = \"testsite\"", with: "site = \"testsite\"\nexpected_mfu = 0.4")
            .write(to: profile, atomically: true, encoding: .utf8)
        let trained = try AtelierProcess.run(["train", job])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        XCTAssertTrue(trained.stdout.contains("estimate before start (") && trained.stdout.contains("recorded in the ledger"), trained.stdout)
        let ledger = dir.appendingPathComponent("runs/ledger.sqlite").path

        let json = try AtelierProcess.run(["report", "--ledger", ledger, "--json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let report = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let jobReport = try XCTUnwrap((report["jobs"] as? [[String: Any]])?.first)
        let usage = try XCTUnwrap(jobReport["usage"] as? [String: Double])
        let work = try XCTUnwrap(jobReport["lost_work"] as? [String: Any])
        let parts = try XCTUnwrap(work["parts"] as? [String: [String: Any]])
        func units(_ part: [String: Any]?, _ key: String) -> Int64 { (part?[key] as? NSNumber)?.int64Value ?? -1 }
        for cause in ["useful", "startup", "evaluation", "checkpoint"] {
            XCTAssertGreaterThan(units(parts[cause], "device_us"), 0, "\(cause): \(parts)")
        }
        XCTAssertEqual(units(parts["restart_killed"], "device_us"), 0)
        let total = work["total"] as? [String: Any]
        for key in ["device_us", "energy_uwh", "operational_ug", "embodied_ug"] {
            XCTAssertEqual(parts.values.map { units($0, key) }.reduce(0, +), units(total, key), key)
        }
        XCTAssertEqual(Double(units(total, "device_us")) / 3.6e9, usage["device_hours"]!, accuracy: 1e-8)
        XCTAssertEqual(Double(units(total, "energy_uwh")) / 1e9, usage["energy_kwh"]!, accuracy: 1e-7)
        let goodput = try XCTUnwrap(work["goodput"] as? Double)
        XCTAssertTrue(goodput > 0 && goodput < 1, "\(goodput)")

        let comparison = try XCTUnwrap(jobReport["estimate_against_actual"] as? [String: Any])
        let estimated = try XCTUnwrap(comparison["estimated"] as? [String: Double])
        let ratio = try XCTUnwrap(comparison["ratio"] as? [String: Double])
        XCTAssertGreaterThan(estimated["device_hours"]!, 0)
        XCTAssertEqual(ratio["device_hours"]!, usage["device_hours"]! / estimated["device_hours"]!, accuracy: 1e-9)

        // atelier estimate reads the job's ledger: one finished job, the site's ratio
        let calibrated = try AtelierProcess.run(["estimate", job, "--profile", profile.path, "--json"])
        XCTAssertEqual(calibrated.status, 0, calibrated.stderr)
        let estimate = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(calibrated.stdout.utf8)) as? [String: Any])
        let calibration = try XCTUnwrap(estimate["calibration"] as? [String: Any])
        let ratios = try XCTUnwrap(calibration["ratios"] as? [String: Any])
        XCTAssertEqual(ratios["jobs"] as? Int, 1)
        XCTAssertEqual(ratios["scope"] as? String, "site")
        let deviceRatio = try XCTUnwrap(ratios["device_hours"] as? [String: Double])
        XCTAssertEqual(deviceRatio["median"]!, ratio["device_hours"]!, accuracy: 1e-9)
        let median = try XCTUnwrap(calibration["median"] as? [String: Double])
        XCTAssertEqual(median["device_hours"]!, (estimate["device_hours"] as! Double) * ratio["device_hours"]!, accuracy: 1e-9)
        let plain = try AtelierProcess.run(["estimate", job, "--profile", profile.path])
        XCTAssertTrue(plain.stdout.contains("calibration: ") && plain.stdout.contains("1 finished job on this site took"), plain.stdout)
        let none = try AtelierProcess.run(["estimate", job, "--profile", profile.path, "--ledger", dir.appendingPathComponent("none.sqlite").path])
        XCTAssertEqual(none.status, 0, none.stderr)
        XCTAssertTrue(none.stdout.contains("no history") && none.stdout.contains("no calibration applied"), none.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("none.sqlite").path), "estimate creates no ledger")
    }
}
