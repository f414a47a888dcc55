import AtelierAccounting
import Foundation
import XCTest

final class LanguageAttributionTests: XCTestCase {
    /// Largest remainder: floors, then one unit each to the largest remainders (first on ties);
    /// the parts add up to the total exactly.
    func testSplitIsExactAndProportional() {
        XCTAssertEqual(LanguageAttribution.split(10, by: [1, 1, 1]), [4, 3, 3])
        XCTAssertEqual(LanguageAttribution.split(100, by: [3, 1]), [75, 25])
        XCTAssertEqual(LanguageAttribution.split(7, by: [2, 0, 5]), [2, 0, 5])
        XCTAssertEqual(LanguageAttribution.split(1, by: [1, 2]), [0, 1])          // remainders 1/3, 2/3
        XCTAssertEqual(LanguageAttribution.split(5, by: [0, 0]), [0, 0])          // nothing to weigh by
        // totals near Int64's range: the product is taken in 128 bits
        let big: Int64 = 8_000_000_000_000_000_000
        let parts = LanguageAttribution.split(big, by: [1_000_003, 999_983, 7])
        XCTAssertEqual(parts.reduce(0, +), big)
        var random = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let total = Int64.random(in: 0...1_000_000_000_000, using: &random)
            let weights = (0..<Int.random(in: 1...6, using: &random)).map { _ in Int.random(in: 0...1_000_000, using: &random) }
            let split = LanguageAttribution.split(total, by: weights)
            let sum = weights.reduce(0, +)
            XCTAssertEqual(split.reduce(0, +), sum > 0 ? total : 0)
            if sum > 0 {
                for (p, w) in zip(split, weights) {   // each part within one unit of its exact share
                    XCTAssertLessThan(abs(Double(p) - Double(total) * Double(w) / Double(sum)), 1.0001)
                }
            }
        }
    }

    /// An interval of 0.000123456789 kWh (123,457 µWh after rounding) trained 3,072 tokens of
    /// French and 1,024 of Basque: 3/4 and 1/4 of each figure, adding up to the interval's units.
    func testIntervalSharesAddUpToTheInterval() {
        var t = AccountingTotals()
        t.energyKWh = 0.000123456789
        t.emissionsKg = t.energyKWh * 0.056
        t.embodiedKg = 0.0000031
        let water = WaterUse(offsiteLitres: t.energyKWh * 3.1, onsiteLitres: nil)
        let record = IntervalRecord(jobID: "j", segment: 1, sequence: 1, start: 0, end: 1, firstIteration: 0, lastIteration: 4,
                                    tokens: 4096, loss: nil, mfu: nil, totals: t,
                                    languages: [LanguageTokens(language: "fr", tokens: 3072), LanguageTokens(language: "eu", tokens: 1024)],
                                    water: water)
        let shares = LanguageAttribution.shares(of: record)
        XCTAssertEqual(shares.map(\.language), ["fr", "eu"])
        XCTAssertEqual(shares.map(\.energyMicroWh), [92_593, 30_864])            // 123,457 x 3/4 = 92,592.75 -> the remainder unit goes to fr
        XCTAssertEqual(shares.map(\.energyMicroWh).reduce(0, +), 123_457)
        XCTAssertEqual(shares.map(\.operationalMicrograms).reduce(0, +), LanguageAttribution.units(t.emissionsKg, per: 1e9))
        XCTAssertEqual(shares.map(\.embodiedMicrograms), [2325, 775])
        XCTAssertEqual(shares.compactMap(\.waterMicrolitres).reduce(0, +), 383)   // 0.000382716 L -> 383 µL
        // No languages, no tokens: no split.
        var plain = record
        plain.languages = nil
        XCTAssertEqual(LanguageAttribution.shares(of: plain), [])
        plain.languages = [LanguageTokens(language: "fr", tokens: 0)]
        XCTAssertEqual(LanguageAttribution.shares(of: plain), [])
        // A figure Int64 cannot hold in µWh is refused, not trapped on.
        XCTAssertNil(LanguageAttribution.units(1e12, per: 1e9))
        XCTAssertNil(LanguageAttribution.units(.nan, per: 1e9))
    }

    /// The ledger keeps each interval's split: per language, over a job's intervals, the parts add
    /// up to the job's total in µWh and µg exactly (integers: any order gives the same sum), and
    /// that total is the job's kWh to within half a µWh per interval.
    func testLedgerLanguageTotalsEqualJobTotals() throws {
        let ledger = try Ledger(path: temporaryPath("ledger.sqlite"))
        try ledger.apply(.begin(job("m"), segment: 1, at: 0))
        var random = SystemRandomNumberGenerator()
        var records: [IntervalRecord] = []
        for seq in 1...25 {
            var r = interval("m", seq, iterations: (seq * 4 - 3)...(seq * 4), kWh: Double.random(in: 1e-6...3, using: &random))
            r.totals.embodiedKg = Double.random(in: 0...0.01, using: &random)
            let fr = Int.random(in: 0...40, using: &random) * 512, en = Int.random(in: 1...40, using: &random) * 512
            r.tokens = fr + en + 512
            r.languages = [LanguageTokens(language: "fr", tokens: fr), LanguageTokens(language: "en", tokens: en),
                           LanguageTokens(language: "code", tokens: 512)]
            r.water = WaterUse(offsiteLitres: r.totals.energyKWh * 1.8, onsiteLitres: r.totals.itKWh * 0.4)
            records.append(r)
            try ledger.apply(.interval(r))
            try ledger.apply(.interval(r))    // a retry is stored once
        }
        let shares = try ledger.languageShares()
        XCTAssertEqual(shares.count, 25)
        var perLanguage: [String: LanguageShare] = [:]
        for parts in shares.values { for p in parts { perLanguage[p.language] = (perLanguage[p.language] ?? .zero(p.language)) + p } }
        let units = records.map { LanguageAttribution.intervalUnits($0.totals, water: $0.water)! }
        let jobEnergy = units.map(\.energy).reduce(0, +), jobOperational = units.map(\.operational).reduce(0, +)
        let jobEmbodied = units.map(\.embodied).reduce(0, +), jobWater = units.compactMap(\.water).reduce(0, +)
        XCTAssertEqual(perLanguage.values.map(\.energyMicroWh).reduce(0, +), jobEnergy)
        XCTAssertEqual(perLanguage.values.map(\.operationalMicrograms).reduce(0, +), jobOperational)
        XCTAssertEqual(perLanguage.values.map(\.embodiedMicrograms).reduce(0, +), jobEmbodied)
        XCTAssertEqual(perLanguage.values.compactMap(\.waterMicrolitres).reduce(0, +), jobWater)
        XCTAssertEqual(perLanguage.values.map(\.tokens).reduce(0, +), records.map(\.tokens).reduce(0, +))
        let kWh = try ledger.totals(jobID: "m").energyKWh
        XCTAssertEqual(Double(jobEnergy) / 1e9, kWh, accuracy: 25 * 0.5e-9 + 1e-12)
        let water = try ledger.intervalWater()
        XCTAssertEqual(water[records[0].key], records[0].water)
    }

    /// A spill line written before languages and water were recorded still decodes.
    func testOldSpillLinesDecode() throws {
        let old = #"{"interval":{"_0":{"jobID":"j","segment":1,"sequence":2,"start":0,"end":1,"firstIteration":0,"lastIteration":5,"tokens":10,"totals":{"modelFlops":1,"hardwareFlops":1,"deviceSeconds":1,"nodeSeconds":1,"cpuKWh":0,"gpuKWh":0,"ramKWh":0,"staticKWh":0,"energyKWh":0.5,"emissionsKg":0.1,"embodiedKg":0}}}}"#
        let op = try JSONDecoder().decode(LedgerOperation.self, from: Data(old.utf8))
        guard case .interval(let r) = op else { return XCTFail("\(op)") }
        XCTAssertNil(r.languages)
        XCTAssertNil(r.water)
        var now = r
        now.languages = [LanguageTokens(language: "fr", tokens: 10)]
        now.water = WaterUse(offsiteLitres: 1.5, onsiteLitres: nil)
        let again = try JSONDecoder().decode(LedgerOperation.self, from: JSONEncoder().encode(LedgerOperation.interval(now)))
        XCTAssertEqual(again, .interval(now))
    }
}
