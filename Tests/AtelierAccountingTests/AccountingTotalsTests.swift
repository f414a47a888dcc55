import AtelierAccounting
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

    /// A checkpoint's named numbers come back by name in any order; an old checkpoint's unnamed
    /// values in the field order; a missing or negative field is named.
    func testTotalsFromNamedValues() throws {
        var t = AccountingTotals()
        t.energyKWh = 2.5
        t.embodiedKg = 0.125
        let names = AccountingTotals.fieldNames, values = t.values
        XCTAssertEqual(try AccountingTotals(names: names.reversed(), values: values.reversed()), t)
        XCTAssertEqual(try AccountingTotals(names: [], values: values), t)
        XCTAssertEqual(try AccountingTotals(names: [], values: []), AccountingTotals())
        XCTAssertThrowsError(try AccountingTotals(names: Array(names.dropLast()), values: Array(values.dropLast()))) { error in
            XCTAssertEqual((error as? AccountingTotals.Unreadable)?.reason, "no value named embodied_kg")
        }
        var negative = values
        negative[0] = -1
        XCTAssertThrowsError(try AccountingTotals(names: names, values: negative)) { error in
            XCTAssertEqual((error as? AccountingTotals.Unreadable)?.reason, "model_flops is -1.0, not a finite non-negative number")
        }
    }
}
