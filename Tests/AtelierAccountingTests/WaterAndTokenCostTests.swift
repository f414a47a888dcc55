import AtelierAccounting
import AtelierJob
import Foundation
import XCTest

final class WaterAndTokenCostTests: XCTestCase {
    func profile(_ extra: String, site: String = "site = \"test\"") throws -> ClusterProfile {
        try ClusterProfile.parse(text: ProfileTests.valid.replacingOccurrences(of: "site = \"test\"", with: site)
                                    .replacingOccurrences(of: "pue = 1.5", with: "pue = 1.5\n" + extra), file: "cluster/w.toml")
    }

    /// Off-site litres = energy x grid.water_l_per_kwh; on-site = IT energy x site.wue.
    func testWaterArithmetic() throws {
        let p = try profile("water_l_per_kwh = 3.2", site: "[site]\nname = \"test\"\nwue = 0.5")
        XCTAssertEqual(p.site, "test")
        XCTAssertEqual(p.waterLitresPerKWh, 3.2)
        XCTAssertEqual(p.wue, 0.5)
        var t = AccountingTotals()
        t.cpuKWh = 30; t.ramKWh = 10           // IT 40 kWh
        t.energyKWh = 60                       // x PUE 1.5
        let w = WaterUse(t, profile: p)
        XCTAssertEqual(w.offsiteLitres, 192)   // 60 x 3.2
        XCTAssertEqual(w.onsiteLitres, 20)     // 40 x 0.5
        XCTAssertEqual(w.litres, 212)
        XCTAssertEqual(w.includes, "off-site and on-site")
        // The estimate: 100 device-hours of 4 cores = 25 node-hours at 40 + 10 + 10 W (CPU, RAM, idle) = 1.5 kWh IT, 2.25 kWh.
        let e = Estimate(deviceHours: 100, profile: p)
        XCTAssertEqual(e.water.offsiteLitres!, 2.25 * 3.2, accuracy: 1e-12)
        XCTAssertEqual(e.water.onsiteLitres!, 1.5 * 0.5, accuracy: 1e-12)
        XCTAssertTrue(e.text.contains("water: off-site 7.200 L (grid) + on-site 0.750 L (cooling) = 7.950 L"), e.text)
    }

    /// Neither figure: "not known" in text, null in JSON, never zero; one figure: which part.
    func testUnknownWaterIsNotZero() throws {
        let none = try profile("")
        var t = AccountingTotals()
        t.cpuKWh = 1; t.energyKWh = 1.5
        let w = WaterUse(t, profile: none)
        XCTAssertNil(w.litres)
        XCTAssertTrue(w.includes.hasPrefix("not known"))
        let json = String(decoding: try JSONEncoder().encode(w), as: UTF8.self)
        XCTAssertTrue(json.contains("\"litres\":null") && json.contains("\"offsite_litres\":null"), json)
        XCTAssertTrue(Estimate(deviceHours: 1, profile: none).text.contains("water: not known"))
        let offsiteOnly = WaterUse(t, profile: try profile("water_l_per_kwh = 2"))
        XCTAssertEqual(offsiteOnly.litres, 3)
        XCTAssertEqual(offsiteOnly.includes, "off-site only (site.wue not known)")
        XCTAssertTrue(Estimate(deviceHours: 1, profile: try profile("", site: "[site]\nname = \"test\"\nwue = 1")).text
                        .contains("off-site not known (no grid.water_l_per_kwh in the profile)"))
        // A sum knows a part only if every term does.
        XCTAssertEqual((w + offsiteOnly).litres, nil)
        XCTAssertEqual((offsiteOnly + offsiteOnly).offsiteLitres, 6)
    }

    /// Bad water figures name the file and the field.
    func testBadWaterFieldsNameFileAndField() {
        let cases: [(String, String, String)] = [
            ("water_l_per_kwh = -1", "site = \"test\"", "grid.water_l_per_kwh"),
            ("water_l_per_kwh = 5000", "site = \"test\"", "grid.water_l_per_kwh"),
            ("water_l_per_kwh = \"lots\"", "site = \"test\"", "grid.water_l_per_kwh"),
            ("", "[site]\nname = \"test\"\nwue = -0.1", "site.wue"),
            ("", "[site]\nname = \"test\"\nwue = 45", "site.wue"),
            ("", "[site]\nwue = 1", "site.name"),
            ("", "[site]\nname = \"test\"\nwue = 1\nwater = 2", "site.water"),
        ]
        for (extra, site, field) in cases {
            XCTAssertThrowsError(try profile(extra, site: site), "\(extra) \(site)") { e in
                let text = "\(e)"
                XCTAssertTrue(text.contains("cluster/w.toml") && text.contains(field), text)
            }
        }
    }

    /// J/token = kWh x 3.6e6 / tokens; gCO2eq per million tokens = kg x 1e9 / tokens.
    func testCostPerToken() throws {
        let c = try XCTUnwrap(TokenCost(tokens: 2e6, energyKWh: 5, operationalKg: 0.3, embodiedKg: 0.1))
        XCTAssertEqual(c.joulesPerToken, 9)                       // 18e6 J / 2e6
        XCTAssertEqual(c.operationalGramsPerMillionTokens, 150)   // 300 g / 2 Mtok
        XCTAssertEqual(c.totalGramsPerMillionTokens, 200, accuracy: 1e-12)
        XCTAssertNil(TokenCost(tokens: 0, energyKWh: 1, operationalKg: 1, embodiedKg: 1))
    }
}
