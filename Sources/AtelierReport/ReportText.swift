import AtelierAccounting
import Foundation

extension Report {
    /// The terminal table: working groups, then jobs.
    public var table: String {
        var out = "Ledger \(ledger)\n\n"
        out += Self.render(groupTable.header, groupTable.rows) + "\n" + Self.render(jobTable.header, jobTable.rows)
        if let v = validationTable { out += "\n" + Self.render(v.header, v.rows) }
        out += "\nCost per token and water\n" + Self.render(costTable.header, costTable.rows)
        if let l = languageTable { out += "\nPer language\n" + Self.render(l.header, l.rows) }
        if let g = gainTable { out += "\nValidation bits per byte gained per kWh, per language\n" + Self.render(g.header, g.rows) }
        if let e = estimateTable { out += "\nEstimate against actual\n" + Self.render(e.header, e.rows) }
        out += "\nLost work by cause\n" + Self.render(lostWorkTable.header, lostWorkTable.rows)
        for w in warnings { out += "\nwarning: \(w)" }
        return out + "\n"
    }

    /// Fixed decimals for large figures, 4 significant digits for small ones (a quickstart's kWh).
    static func f(_ x: Double, _ d: Int = 2) -> String {
        x == 0 || abs(x) >= 1 ? String(format: "%.\(d)f", x) : String(format: "%.4g", x)
    }
    static func pct(_ x: Double?) -> String { x.map { String(format: "%.0f%%", 100 * $0) } ?? "-" }

    var groupTable: (header: [String], rows: [[String]]) {
        let (f, pct) = (Self.f, Self.pct)
        let rows = groups.map { g in
            [g.name, "\(g.jobs)", f(g.usage.deviceHours, 2), f(g.usage.modelPFLOPs, 3), pct(g.usage.meanMFU), f(g.usage.energyKWh, 3),
             f(g.usage.operationalKg, 3), f(g.usage.embodiedKg, 3), f(g.usage.totalKg, 3),
             g.budgetDeviceHours.map { "\(pct(g.budgetUsed)) of \(f($0, 0))" } ?? "-"]
        } + [["all", "\(jobs.count)", f(total.deviceHours, 2), f(total.modelPFLOPs, 3), pct(total.meanMFU),
              f(total.energyKWh, 3), f(total.operationalKg, 3), f(total.embodiedKg, 3), f(total.totalKg, 3), ""]]
        return (["working group", "jobs", "device-h", "model PFLOP", "MFU", "kWh", "kgCO2eq op", "kgCO2eq emb", "kgCO2eq total", "budget used"], rows)
    }

    var jobTable: (header: [String], rows: [[String]]) {
        let (f, pct) = (Self.f, Self.pct)
        let rows = jobs.map { j in
            [j.name, j.workingGroup, j.user, j.status + (j.launches > 1 ? " (\(j.launches) launches)" : ""), f(j.usage.deviceHours, 2),
             f(j.usage.modelPFLOPs, 3), pct(j.usage.meanMFU), f(j.usage.energyKWh, 3), f(j.usage.operationalKg, 3),
             f(j.usage.embodiedKg, 3), f(j.usage.totalKg, 3), j.usage.lostKg > 0 ? f(j.usage.lostKg, 3) : "-"]
        }
        return (["job", "working group", "user", "status", "device-h", "model PFLOP", "MFU", "kWh", "kgCO2eq op",
                 "kgCO2eq emb", "kgCO2eq total", "lost to restarts"], rows)
    }

    /// Newest validation per job and dataset: bits per byte (and loss).
    var validationTable: (header: [String], rows: [[String]])? {
        let rows = jobs.compactMap { j -> [[String]]? in
            guard let v = j.validation else { return nil }
            return v.datasets.keys.sorted().map { name in
                [j.name, "\(v.iteration)", name, String(format: "%.3f", v.datasets[name]?["loss"] ?? .nan),
                 String(format: "%.3f", v.datasets[name]?["bits_per_byte"] ?? .nan)]
            }
        }.flatMap { $0 }
        return rows.isEmpty ? nil : (["job", "iteration", "validation set", "loss", "bits/byte"], rows)
    }

    static func render(_ header: [String], _ rows: [[String]]) -> String {
        let widths = header.indices.map { c in ([header] + rows).map { $0[c].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { c, cell in
                c == 0 || c == 1 && header[1] == "working group" ? cell.padding(toLength: widths[c], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[c] - cell.count) + cell
            }.joined(separator: "  ")
        }
        return ([line(header), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")] + rows.map(line))
            .joined(separator: "\n") + "\n"
    }

    /// CSV: one row per working group and per job (`level` says which), full precision.
    public var csv: String {
        let header = ["level", "name", "working_group", "user", "status", "launches", "device_hours", "model_pflops", "mean_mfu",
                      "energy_kwh", "operational_kgco2eq", "embodied_kgco2eq", "total_kgco2eq", "lost_device_hours",
                      "lost_kgco2eq", "budget_device_hours", "budget_used"] + Self.costCSVHeader + Self.efficiencyCSVHeader
        func usage(_ u: Usage) -> [String] {
            ["\(u.deviceHours)", "\(u.modelPFLOPs)", u.meanMFU.map { "\($0)" } ?? "", "\(u.energyKWh)", "\(u.operationalKg)",
             "\(u.embodiedKg)", "\(u.totalKg)", "\(u.lostDeviceHours)", "\(u.lostKg)"]
        }
        var rows = [header]
        let groupCosts = Dictionary(costs.groups.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let jobCosts = Dictionary(costs.jobs.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        func cost(_ c: (figures: CostFigures, water: WaterUse)?) -> [String] {
            c.map { Self.costCSV($0.figures, water: $0.water) } ?? Array(repeating: "", count: Self.costCSVHeader.count)
        }
        rows += groups.map { g in ["group", g.name, g.name, "", "", ""] + usage(g.usage)
            + [g.budgetDeviceHours.map { "\($0)" } ?? "", g.budgetUsed.map { "\($0)" } ?? ""]
            + cost(groupCosts[g.name].map { ($0.figures, $0.water) }) + Self.efficiencyCSV(g.estimate, work: g.work) }
        rows += jobs.map { j in ["job", j.name, j.workingGroup, j.user, j.status, "\(j.launches)"] + usage(j.usage) + ["", ""]
            + cost(jobCosts[j.id].map { ($0.figures, $0.water) }) + Self.efficiencyCSV(j.estimate, work: j.work) }
        rows += languageCSVRows(usageColumns: usage(Usage()).count).map { $0 + Array(repeating: "", count: Self.efficiencyCSVHeader.count) }
        rows += causeCSVRows(usageColumns: usage(Usage()).count, costColumns: Self.costCSVHeader.count)
        return rows.map(CSV.line).joined(separator: "\n") + "\n"
    }

    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return String(data: (try? encoder.encode(self)) ?? Data(), encoding: .utf8)! + "\n"
    }
}
