import AtelierCheckpoint
import XCTest

final class AccountingTotalsTests: XCTestCase {
    /// A sum is the sum: it used to fall back to the left operand, silently, when it overflowed.
    func testSumsAreNeverDropped() {
        var a = AccountingTotals()
        a.energyKWh = 1.5
        a.emissionsKg = 0.25
        var b = AccountingTotals()
        b.energyKWh = .greatestFiniteMagnitude
        b.emissionsKg = 1
        let sum = a + b
        XCTAssertEqual(sum.energyKWh, .greatestFiniteMagnitude)
        XCTAssertEqual(sum.emissionsKg, 1.25)
        XCTAssertEqual((b + b).energyKWh, .infinity)
    }

    func testFirstInvalidFieldIsNamed() {
        var values = AccountingTotals().values
        XCTAssertNil(AccountingTotals.firstInvalid(values))
        values[8] = .nan
        values[9] = -1
        XCTAssertEqual(AccountingTotals.firstInvalid(values)?.field, "energy_kwh")
        XCTAssertNil(AccountingTotals(values: values))
    }
}
