import AtelierAccounting
import AtelierTrain
import Foundation
import XCTest

final class MetricsFileTests: XCTestCase {
    /// A validation loss that diverged is written as "nan" (as iteration records write it), not as
    /// a 0 that reads like a perfect model.
    func testNonFiniteValidationIsWrittenAsNaNNotZero() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-\(getpid()).jsonl").path
        defer { unlink(path) }
        let file = try MetricsFile(path: path)
        try file.append(iteration: 10, validation: [ValidationResult(name: "fr", loss: .nan, bitsPerByte: .infinity, tokens: 64),
                                                    ValidationResult(name: "de", loss: 2.5, bitsPerByte: 1.25, tokens: 64)])
        let line = try String(contentsOfFile: path, encoding: .utf8)
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        let validation = object["validation"] as! [String: [String: Any]]
        XCTAssertEqual(validation["fr"]?["loss"] as? String, "nan")
        XCTAssertEqual(validation["fr"]?["bits_per_byte"] as? String, "inf")
        XCTAssertEqual(validation["de"]?["loss"] as? Double, 2.5)
        XCTAssertEqual(validation["de"]?["tokens"] as? Int, 64)
    }

    /// An accounting record holds the cumulative facility kWh and kgCO2eq (operational, embodied).
    func testAccountingRecord() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-acc-\(getpid()).jsonl").path
        defer { unlink(path) }
        var totals = AccountingTotals()
        (totals.energyKWh, totals.emissionsKg, totals.embodiedKg, totals.cpuKWh) = (0.125, 0.0075, 0.001, 9)
        try MetricsFile(path: path).append(iteration: 30, accounting: totals)
        let line = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertEqual(line, #"{"accounting":{"embodied_kg":0.001,"emissions_kg":0.0075,"energy_kwh":0.125},"iteration":30}"# + "\n")
    }

    /// A metrics file that cannot be opened says why; it used to say "no permission" whatever
    /// the cause.
    func testOpeningFailuresSayWhy() {
        XCTAssertThrowsError(try MetricsFile(path: "/nonexistent-\(getpid())/metrics.jsonl")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("No such file") || text.contains("doesn’t exist") || text.contains("does not exist"), text)
            XCTAssertFalse(text.lowercased().contains("permission"), text)
        }
    }
}
