import AtelierAccounting
import Foundation

extension Report {
    /// Per working group and job: tokens kept, kWh, cost per token and water.
    var costTable: (header: [String], rows: [[String]]) {
        func row(_ level: String, _ name: String, _ f: CostFigures, _ water: WaterUse) -> [String] {
            let c = f.perToken
            return [name, level, "\(f.tokens)", Self.f(f.energyKWh, 3), c.map { Self.g($0.joulesPerToken) } ?? "-",
                    c.map { Self.g($0.operationalGramsPerMillionTokens) } ?? "-", c.map { Self.g($0.totalGramsPerMillionTokens) } ?? "-",
                    Self.litres(water.litres), water.litres == nil ? "" : water.includes]
        }
        let rows = costs.groups.map { row("group", $0.name, $0.figures, $0.water) } + costs.jobs.map { row("job", $0.name, $0.figures, $0.water) }
        return (["name", "level", "tokens", "kWh", "J/token", "gCO2eq/Mtok op", "gCO2eq/Mtok op+emb", "water L", "water includes"], rows)
    }

    /// Per job and group, per language: tokens, kWh, kgCO2eq, cost per token, water; then the
    /// job's or group's total, which the rows add up to exactly (in µWh and µg).
    var languageTable: (header: [String], rows: [[String]])? {
        func row(_ owner: String, _ language: String, _ f: CostFigures) -> [String] {
            let c = f.perToken
            return [owner, language, "\(f.tokens)", Self.f(f.energyKWh, 3), Self.f(f.operationalKg, 3), Self.f(f.embodiedKg, 3),
                    c.map { Self.g($0.joulesPerToken) } ?? "-", c.map { Self.g($0.operationalGramsPerMillionTokens) } ?? "-",
                    c.map { Self.g($0.totalGramsPerMillionTokens) } ?? "-", Self.litres(f.waterLitres)]
        }
        var rows: [[String]] = []
        for j in costs.jobs where !j.languages.isEmpty {
            rows += j.languages.map { row(j.name, $0.language, $0.figures) } + [row(j.name, "all", j.figures)]
        }
        for g in costs.groups where !g.languages.isEmpty {
            rows += g.languages.map { row("group " + g.name, $0.language, $0.figures) } + [row("group " + g.name, "all", g.figures)]
        }
        return rows.isEmpty ? nil : (["job or group", "language", "tokens", "kWh", "kgCO2eq op", "kgCO2eq emb", "J/token",
                                      "gCO2eq/Mtok op", "gCO2eq/Mtok op+emb", "water L"], rows)
    }

    /// Validation bits per byte gained per kWh spent on each language between evaluations.
    var gainTable: (header: [String], rows: [[String]])? {
        let rows = costs.jobs.flatMap { j in
            j.gains.map { [j.name, $0.language, "\($0.fromIteration)-\($0.toIteration)", String(format: "%.4f", $0.bitsPerByteGained),
                           Self.g($0.energyKWh), Self.g($0.perKWh)] }
        }
        return rows.isEmpty ? nil : (["job", "language", "iterations", "bpb gained", "kWh", "bpb/kWh"], rows)
    }

    static func g(_ x: Double) -> String { String(format: "%.4g", x) }
    static func litres(_ x: Double?) -> String { x.map { f($0, 3) } ?? "not known" }

    /// The CSV columns of cost per token and water, appended to each group and job row.
    static let costCSVHeader = ["tokens", "energy_uwh", "operational_ug", "embodied_ug", "joules_per_token",
                                "operational_gco2eq_per_million_tokens", "total_gco2eq_per_million_tokens",
                                "water_litres", "water_includes", "language"]

    static func costCSV(_ f: CostFigures, water: WaterUse?, language: String = "") -> [String] {
        let c = f.perToken
        return ["\(f.tokens)", "\(f.energyMicroWh)", "\(f.operationalMicrograms)", "\(f.embodiedMicrograms)",
                c.map { "\($0.joulesPerToken)" } ?? "", c.map { "\($0.operationalGramsPerMillionTokens)" } ?? "",
                c.map { "\($0.totalGramsPerMillionTokens)" } ?? "",
                f.waterMicrolitres.map { ExactDecimal.string($0, places: 6) } ?? "", water.map { $0.litres == nil ? "" : $0.includes } ?? "",
                language]
    }

    /// Rows of level `job-language` and `group-language`: the usage columns that a language has
    /// (energy and emissions, exact decimals of the µWh and µg columns), then the cost columns.
    func languageCSVRows(usageColumns: Int) -> [[String]] {
        func row(_ level: String, _ name: String, _ group: String, _ l: LanguageCost) -> [String] {
            let f = l.figures
            var usage = [String](repeating: "", count: usageColumns)
            // device_hours, model_pflops, mean_mfu, energy_kwh, operational, embodied, total, lost...
            usage[3] = ExactDecimal.string(f.energyMicroWh, places: 9)
            usage[4] = ExactDecimal.string(f.operationalMicrograms, places: 9)
            usage[5] = ExactDecimal.string(f.embodiedMicrograms, places: 9)
            usage[6] = ExactDecimal.string(f.operationalMicrograms + f.embodiedMicrograms, places: 9)
            return [level, name, group, "", "", ""] + usage + ["", ""] + Self.costCSV(f, water: nil, language: l.language)
        }
        return costs.jobs.flatMap { j in j.languages.map { row("job-language", j.name, j.workingGroup, $0) } }
            + costs.groups.flatMap { g in g.languages.map { row("group-language", g.name, g.name, $0) } }
    }
}
