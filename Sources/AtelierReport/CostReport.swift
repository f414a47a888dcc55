import AtelierAccounting
import Foundation

/// Tokens, energy, emissions and water in the ledger's integer units (`LanguageAttribution`:
/// µWh, µg, µL), so that languages add up to their job and jobs to their group exactly.
public struct CostFigures: Sendable, Equatable, Encodable {
    public var tokens = 0                    // trained tokens the checkpoints keep (lost work's are not)
    public var energyMicroWh: Int64 = 0      // lost work included: it was consumed
    public var operationalMicrograms: Int64 = 0
    public var embodiedMicrograms: Int64 = 0
    public var waterMicrolitres: Int64? = 0  // nil: not known for some of the work

    public init() {}

    public var energyKWh: Double { Double(energyMicroWh) / LanguageAttribution.perKWh }
    public var operationalKg: Double { Double(operationalMicrograms) / LanguageAttribution.perKg }
    public var embodiedKg: Double { Double(embodiedMicrograms) / LanguageAttribution.perKg }
    public var waterLitres: Double? { waterMicrolitres.map { Double($0) / LanguageAttribution.perLitre } }
    /// What each kept token cost, lost work included; nil without tokens.
    public var perToken: TokenCost? { TokenCost(tokens: Double(tokens), energyKWh: energyKWh, operationalKg: operationalKg, embodiedKg: embodiedKg) }

    mutating func add(_ s: LanguageShare, counted: Bool) {
        if counted { tokens += s.tokens }
        energyMicroWh += s.energyMicroWh
        operationalMicrograms += s.operationalMicrograms
        embodiedMicrograms += s.embodiedMicrograms
        waterMicrolitres = waterMicrolitres.flatMap { x in s.waterMicrolitres.map { x + $0 } }
    }

    public static func + (a: CostFigures, b: CostFigures) -> CostFigures {
        var sum = a
        sum.add(LanguageShare(language: "", tokens: b.tokens, energyMicroWh: b.energyMicroWh, operationalMicrograms: b.operationalMicrograms,
                              embodiedMicrograms: b.embodiedMicrograms, waterMicrolitres: b.waterMicrolitres), counted: true)
        return sum
    }

    enum CodingKeys: String, CodingKey {
        case tokens, energyMicroWh = "energy_uwh", operationalMicrograms = "operational_ug", embodiedMicrograms = "embodied_ug"
        case waterMicrolitres = "water_ul", energyKWh = "energy_kwh", operationalKg = "operational_kgco2eq"
        case embodiedKg = "embodied_kgco2eq", waterLitres = "water_litres", perToken = "cost_per_token"
    }

    /// The exact units and their readable values; what is not known is null.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(tokens, forKey: .tokens); try c.encode(energyMicroWh, forKey: .energyMicroWh)
        try c.encode(operationalMicrograms, forKey: .operationalMicrograms); try c.encode(embodiedMicrograms, forKey: .embodiedMicrograms)
        try c.encode(waterMicrolitres, forKey: .waterMicrolitres); try c.encode(energyKWh, forKey: .energyKWh)
        try c.encode(operationalKg, forKey: .operationalKg); try c.encode(embodiedKg, forKey: .embodiedKg)
        try c.encode(waterLitres, forKey: .waterLitres); try c.encode(perToken, forKey: .perToken)
    }
}

/// One language's part of a job's or a group's work.
public struct LanguageCost: Sendable, Equatable, Encodable {
    /// Work of intervals that have no split (written before languages were counted, or that
    /// trained no token) is shown under this name, so that the rows still add up.
    public static let notAttributed = "(not attributed)"
    public var language: String
    public var figures: CostFigures
}

/// Validation bits per byte gained per kWh spent on a language between two successive evaluations.
public struct BitsPerByteGain: Sendable, Equatable, Encodable {
    public var language: String
    public var fromIteration: Int
    public var toIteration: Int
    public var bitsPerByteGained: Double      // bpb at `fromIteration` - bpb at `toIteration`
    public var energyKWh: Double              // the language's energy in the counted intervals between them
    public var perKWh: Double { bitsPerByteGained / energyKWh }

    enum CodingKeys: String, CodingKey {
        case language, fromIteration = "from_iteration", toIteration = "to_iteration", bitsPerByteGained = "bits_per_byte_gained"
        case energyKWh = "energy_kwh", perKWh = "bits_per_byte_gained_per_kwh"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(language, forKey: .language); try c.encode(fromIteration, forKey: .fromIteration)
        try c.encode(toIteration, forKey: .toIteration); try c.encode(bitsPerByteGained, forKey: .bitsPerByteGained)
        try c.encode(energyKWh, forKey: .energyKWh); try c.encode(perKWh, forKey: .perKWh)
    }
}

public struct JobCost: Sendable, Encodable {
    public var id, name, workingGroup: String
    public var figures: CostFigures
    public var water: WaterUse               // litres by part, and what is known
    public var languages: [LanguageCost]     // empty when the job's data is not a mixture
    public var gains: [BitsPerByteGain]

    enum CodingKeys: String, CodingKey { case id, name, workingGroup = "working_group", figures, water, languages, gains = "bits_per_byte_gains" }
}

public struct GroupCost: Sendable, Encodable {
    public var name: String
    public var figures: CostFigures
    public var water: WaterUse
    public var languages: [LanguageCost]
}

/// What the work cost per token, per language and in water (docs/accounting.md), per job and per
/// working group, over the same intervals as the rest of the report.
public struct CostReport: Sendable, Encodable {
    public var jobs: [JobCost]
    public var groups: [GroupCost]
    public var warnings: [String]

    public static func build(ledger: Ledger, jobs: [(id: String, name: String, group: String)], intervals: [String: [LedgerInterval]],
                             filter: ReportFilter) throws -> CostReport {
        let since = filter.since?.timeIntervalSince1970 ?? -.infinity, until = filter.until?.timeIntervalSince1970 ?? .infinity
        let shares = try ledger.languageShares(since: since, until: until)
        let water = try ledger.intervalWater(since: since, until: until)
        let history = try ledger.validationHistory()
        var warnings: [String] = []
        var jobCosts: [JobCost] = []
        for j in jobs {
            let list = intervals[j.id] ?? []
            var figures = CostFigures(), litres = list.isEmpty ? WaterUse(offsiteLitres: nil, onsiteLitres: nil) : .zero
            var byLanguage: [String: CostFigures] = [:]
            for i in list {
                let w = water[i.record.key]
                litres = litres + (w ?? WaterUse(offsiteLitres: nil, onsiteLitres: nil))
                guard let u = LanguageAttribution.intervalUnits(i.record.totals, water: w) else {
                    warnings.append("job \(j.name): interval \(i.record.segment).\(i.record.sequence) has figures too large to count in µWh and µg (\(i.record.totals.energyKWh) kWh); it is left out of the cost per token and the languages")
                    continue
                }
                let whole = LanguageShare(language: "", tokens: i.record.tokens, energyMicroWh: u.energy, operationalMicrograms: u.operational,
                                          embodiedMicrograms: u.embodied, waterMicrolitres: u.water)
                figures.add(whole, counted: !i.lost)
                // An interval without a split goes whole to "(not attributed)", so the rows add up.
                let parts = shares[i.record.key] ?? [LanguageShare(language: LanguageCost.notAttributed, tokens: i.record.tokens,
                                                                    energyMicroWh: u.energy, operationalMicrograms: u.operational,
                                                                    embodiedMicrograms: u.embodied, waterMicrolitres: u.water)]
                for p in parts { byLanguage[p.language, default: CostFigures()].add(p, counted: !i.lost) }
            }
            // A job none of whose intervals is split (its data is not a mixture) has no language rows.
            let languages = byLanguage.keys.contains(where: { $0 != LanguageCost.notAttributed })
                ? byLanguage.keys.sorted().map { LanguageCost(language: $0, figures: byLanguage[$0]!) } : []
            jobCosts.append(JobCost(id: j.id, name: j.name, workingGroup: j.group, figures: figures, water: litres, languages: languages,
                                    gains: gains(history[j.id] ?? [], intervals: list, shares: shares)))
        }
        var groups: [GroupCost] = []
        for name in Set(jobCosts.map(\.workingGroup)).sorted() {
            let members = jobCosts.filter { $0.workingGroup == name }
            var byLanguage: [String: CostFigures] = [:]
            for l in members.flatMap(\.languages) { byLanguage[l.language] = (byLanguage[l.language] ?? CostFigures()) + l.figures }
            groups.append(GroupCost(name: name, figures: members.map(\.figures).reduce(CostFigures(), +),
                                    water: members.map(\.water).reduce(.zero, +),
                                    languages: byLanguage.keys.sorted().map { LanguageCost(language: $0, figures: byLanguage[$0]!) }))
        }
        return CostReport(jobs: jobCosts, groups: groups, warnings: warnings)
    }

    /// Per language, between successive evaluations (a, b]: bpb(a) - bpb(b) over the language's
    /// energy in the counted intervals within (a, b] (intervals close at every evaluation, so
    /// each lies within one such span). Spans with no energy on the language are left out.
    static func gains(_ history: [(iteration: Int, results: [ValidationRecord])], intervals: [LedgerInterval],
                      shares: [IntervalKey: [LanguageShare]]) -> [BitsPerByteGain] {
        var out: [BitsPerByteGain] = []
        for (a, b) in zip(history, history.dropFirst()) {
            var energy: [String: Int64] = [:]
            for i in intervals where !i.lost && i.record.firstIteration >= a.iteration && i.record.lastIteration <= b.iteration {
                for s in shares[i.record.key] ?? [] { energy[s.language, default: 0] += s.energyMicroWh }
            }
            for before in a.results {
                guard let after = b.results.first(where: { $0.dataset == before.dataset }),
                      let units = energy[before.dataset], units > 0 else { continue }
                out.append(BitsPerByteGain(language: before.dataset, fromIteration: a.iteration, toIteration: b.iteration,
                                           bitsPerByteGained: before.bitsPerByte - after.bitsPerByte,
                                           energyKWh: Double(units) / LanguageAttribution.perKWh))
            }
        }
        return out
    }
}

/// Integer units written as exact decimals: 83412 µWh -> "0.000083412" kWh. A CSV reader's sums
/// of these strings are exact.
enum ExactDecimal {
    static func string(_ units: Int64, places: Int) -> String {
        var scale: Int64 = 1
        for _ in 0..<places { scale *= 10 }
        let fraction = String(units % scale)
        return "\(units / scale)." + String(repeating: "0", count: places - fraction.count) + fraction
    }
}
