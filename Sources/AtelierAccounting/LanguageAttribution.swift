/// Tokens of one language (a mixture's dataset) trained in an accounting interval, all ranks summed.
public struct LanguageTokens: Codable, Sendable, Equatable {
    public var language: String
    public var tokens: Int
    public init(language: String, tokens: Int) { (self.language, self.tokens) = (language, tokens) }
}

/// One language's part of an interval (or of a sum of intervals), in integer units so that the
/// parts add up exactly, in any order: energy in µWh (1e-9 kWh, 3.6 mJ), masses in µg (1e-9 kg),
/// water in µL (1e-6 L). Int64 holds 9.2e9 kWh, 9.2e9 kg and 9.2e12 L.
public struct LanguageShare: Codable, Sendable, Equatable {
    public var language: String
    public var tokens: Int
    public var energyMicroWh: Int64
    public var operationalMicrograms: Int64
    public var embodiedMicrograms: Int64
    public var waterMicrolitres: Int64?          // nil: the interval's water is not known

    enum CodingKeys: String, CodingKey {
        case language, tokens, energyMicroWh = "energy_uwh", operationalMicrograms = "operational_ug"
        case embodiedMicrograms = "embodied_ug", waterMicrolitres = "water_ul"
    }

    public init(language: String, tokens: Int, energyMicroWh: Int64, operationalMicrograms: Int64, embodiedMicrograms: Int64,
                waterMicrolitres: Int64?) {
        (self.language, self.tokens, self.energyMicroWh) = (language, tokens, energyMicroWh)
        (self.operationalMicrograms, self.embodiedMicrograms, self.waterMicrolitres) = (operationalMicrograms, embodiedMicrograms, waterMicrolitres)
    }

    /// Field by field; water is known in a sum only if known in both.
    public static func + (a: LanguageShare, b: LanguageShare) -> LanguageShare {
        LanguageShare(language: a.language, tokens: a.tokens + b.tokens, energyMicroWh: a.energyMicroWh + b.energyMicroWh,
                      operationalMicrograms: a.operationalMicrograms + b.operationalMicrograms,
                      embodiedMicrograms: a.embodiedMicrograms + b.embodiedMicrograms,
                      waterMicrolitres: a.waterMicrolitres.flatMap { x in b.waterMicrolitres.map { x + $0 } })
    }

    /// Nothing yet, for `language`: the start of a sum.
    public static func zero(_ language: String) -> LanguageShare {
        LanguageShare(language: language, tokens: 0, energyMicroWh: 0, operationalMicrograms: 0, embodiedMicrograms: 0, waterMicrolitres: 0)
    }

    public var energyKWh: Double { Double(energyMicroWh) / LanguageAttribution.perKWh }
    public var operationalKg: Double { Double(operationalMicrograms) / LanguageAttribution.perKg }
    public var embodiedKg: Double { Double(embodiedMicrograms) / LanguageAttribution.perKg }
    public var waterLitres: Double? { waterMicrolitres.map { Double($0) / LanguageAttribution.perLitre } }
    public var cost: TokenCost? { TokenCost(tokens: Double(tokens), energyKWh: energyKWh, operationalKg: operationalKg, embodiedKg: embodiedKg) }
}

/// Splits an interval's energy, emissions and water among the languages trained in it, by their
/// share of its tokens (docs/accounting.md). Each figure is rounded once to its integer unit; the
/// units are split by largest remainder (floor of units x tokens_l / tokens, then one more unit to
/// the largest remainders, the first language on ties), so the languages add up to the interval's
/// units exactly, and sums over intervals, jobs and groups stay exact.
public enum LanguageAttribution {
    public static let perKWh = 1e9      // µWh per kWh
    public static let perKg = 1e9       // µg per kg
    public static let perLitre = 1e6    // µL per litre

    /// `x` in units of 1/`perUnit`, rounded; nil when it is not a finite, non-negative figure that
    /// Int64 holds.
    public static func units(_ x: Double, per perUnit: Double) -> Int64? {
        let scaled = (x * perUnit).rounded()
        guard scaled.isFinite, scaled >= 0, scaled < 9.0e18 else { return nil }
        return Int64(scaled)
    }

    /// `total` units split in proportion to `weights` (non-negative, positive sum), adding up to
    /// `total` exactly.
    public static func split(_ total: Int64, by weights: [Int]) -> [Int64] {
        let sum = Int64(weights.reduce(0, +))
        guard sum > 0, total >= 0 else { return weights.map { _ in 0 } }
        var parts: [Int64] = [], remainders: [Int64] = []
        for w in weights {
            // total x w / sum in 128 bits: total x w can exceed Int64.
            let product = total.multipliedFullWidth(by: Int64(w))
            let (quotient, remainder) = sum.dividingFullWidth(product)
            parts.append(quotient)
            remainders.append(remainder)
        }
        let left = total - parts.reduce(0, +)     // < weights.count
        let order = weights.indices.sorted { remainders[$0] != remainders[$1] ? remainders[$0] > remainders[$1] : $0 < $1 }
        for i in order.prefix(Int(left)) { parts[i] += 1 }
        return parts
    }

    /// The interval's figures in units: energy, operational, embodied, water (nil when not known);
    /// nil when a figure does not fit (a meter gone wrong by orders of magnitude).
    public static func intervalUnits(_ totals: AccountingTotals, water: WaterUse?) -> (energy: Int64, operational: Int64, embodied: Int64, water: Int64?)? {
        guard let energy = units(totals.energyKWh, per: perKWh), let operational = units(totals.emissionsKg, per: perKg),
              let embodied = units(totals.embodiedKg, per: perKg) else { return nil }
        var waterUnits: Int64?
        if let litres = water?.litres {
            guard let w = units(litres, per: perLitre) else { return nil }
            waterUnits = w
        }
        return (energy, operational, embodied, waterUnits)
    }

    /// Each language's part of `record` (its `languages` and `water`); empty when it has no
    /// languages, trained no tokens, or a figure does not fit in the units.
    public static func shares(of record: IntervalRecord) -> [LanguageShare] {
        guard let languages = record.languages, !languages.isEmpty, languages.contains(where: { $0.tokens > 0 }),
              languages.allSatisfy({ $0.tokens >= 0 }),
              let u = intervalUnits(record.totals, water: record.water) else { return [] }
        let tokens = languages.map(\.tokens)
        let energy = split(u.energy, by: tokens), operational = split(u.operational, by: tokens)
        let embodied = split(u.embodied, by: tokens), water = u.water.map { split($0, by: tokens) }
        return languages.indices.map { i in
            LanguageShare(language: languages[i].language, tokens: tokens[i], energyMicroWh: energy[i],
                          operationalMicrograms: operational[i], embodiedMicrograms: embodied[i], waterMicrolitres: water?[i])
        }
    }
}
