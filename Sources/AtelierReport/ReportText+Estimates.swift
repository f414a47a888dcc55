import AtelierAccounting
import Foundation

extension Report {
    /// Per working group and job with a recorded estimate: estimated and actual device-hours, kWh
    /// and kgCO2eq, and actual / estimate.
    var estimateTable: (header: [String], rows: [[String]])? {
        func row(_ name: String, _ level: String, _ c: EstimateComparison) -> [String] {
            let r = c.ratio
            return [name, level, Self.f(c.estimated.deviceHours, 3), Self.f(c.actual.deviceHours, 3), Self.ratio(r.deviceHours),
                    Self.f(c.estimated.energyKWh, 3), Self.f(c.actual.energyKWh, 3), Self.ratio(r.energyKWh),
                    Self.f(c.estimated.totalKg, 3), Self.f(c.actual.totalKg, 3), Self.ratio(r.totalKg)]
        }
        let rows = groups.compactMap { g in g.estimate.map { row(g.name, "group of \($0.jobs) job\($0.jobs == 1 ? "" : "s")", $0) } }
            + jobs.compactMap { j in j.estimate.map { row(j.name, "job, \(j.status)", $0) } }
        return rows.isEmpty ? nil : (["name", "level", "est. device-h", "device-h", "ratio", "est. kWh", "kWh", "ratio",
                                      "est. kgCO2eq", "kgCO2eq", "ratio"], rows)
    }

    static func ratio(_ x: Double) -> String { x.isFinite ? String(format: "%.2fx", x) : "-" }

    /// The CSV columns of estimates and lost work, appended to each row: for group and job rows
    /// the estimate, the ratios and the goodput, and the total device-µs; for rows of level
    /// `job-cause` and `group-cause`, the cause and its device-µs.
    static let efficiencyCSVHeader = ["estimated_device_hours", "estimated_energy_kwh", "estimated_kgco2eq", "device_hours_ratio",
                                      "energy_ratio", "kgco2eq_ratio", "goodput", "cause", "device_us"]

    static func efficiencyCSV(_ estimate: EstimateComparison?, work: WorkBreakdown) -> [String] {
        let e = estimate.map { c -> [String] in
            let r = c.ratio
            return ["\(c.estimated.deviceHours)", "\(c.estimated.energyKWh)", "\(c.estimated.totalKg)", "\(r.deviceHours)",
                    "\(r.energyKWh)", "\(r.totalKg)"]
        } ?? Array(repeating: "", count: 6)
        return e + [work.goodput.map { "\($0)" } ?? "", "", "\(work.total.deviceMicroseconds)"]
    }

    /// Rows of level `job-cause` and `group-cause`: device-hours, then energy and emissions as exact
    /// decimals of their µWh and µg (also in the cost columns), the cause and its device-µs.
    func causeCSVRows(usageColumns: Int, costColumns: Int) -> [[String]] {
        func rows(_ level: String, _ name: String, _ group: String, _ w: WorkBreakdown) -> [[String]] {
            WorkCause.allCases.map { cause in
                let u = w[cause]
                var usage = [String](repeating: "", count: usageColumns)
                // device_hours, model_pflops, mean_mfu, energy_kwh, operational, embodied, total, lost...
                usage[0] = "\(u.deviceHours)"
                usage[3] = ExactDecimal.string(u.energyMicroWh, places: 9)
                usage[4] = ExactDecimal.string(u.operationalMicrograms, places: 9)
                usage[5] = ExactDecimal.string(u.embodiedMicrograms, places: 9)
                usage[6] = ExactDecimal.string(u.totalMicrograms, places: 9)
                var cost = [String](repeating: "", count: costColumns)
                // tokens, energy_uwh, operational_ug, embodied_ug, ...
                (cost[1], cost[2], cost[3]) = ("\(u.energyMicroWh)", "\(u.operationalMicrograms)", "\(u.embodiedMicrograms)")
                return [level, name, group, "", "", ""] + usage + ["", ""] + cost
                    + Array(repeating: "", count: 7) + [cause.rawValue, "\(u.deviceMicroseconds)"]
            }
        }
        return jobs.flatMap { rows("job-cause", $0.name, $0.workingGroup, $0.work) }
            + groups.flatMap { rows("group-cause", $0.name, $0.name, $0.work) }
    }
}
