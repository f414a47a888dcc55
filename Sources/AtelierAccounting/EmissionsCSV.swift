import Foundation

/// The job's `emissions.csv` in CodeCarbon 3.0's format (its `EmissionsData` columns, in order;
/// energy in kWh, emissions in kg, power in W, duration in s), one row per launch of the job,
/// rewritten in place as the launch goes on (CodeCarbon's "update" mode). As in CodeCarbon, the
/// PUE is included in cpu_energy, gpu_energy and ram_energy; energy_consumed is their sum plus the
/// node's static power (also x PUE), so it equals the ledger's energy.
public struct EmissionsCSV: Sendable {
    public static let columns = [
        "timestamp", "project_name", "run_id", "experiment_id", "duration", "emissions", "emissions_rate",
        "cpu_power", "gpu_power", "ram_power", "cpu_energy", "gpu_energy", "ram_energy", "energy_consumed",
        "country_name", "country_iso_code", "region", "cloud_provider", "cloud_region", "os", "python_version",
        "codecarbon_version", "cpu_count", "cpu_model", "gpu_count", "gpu_model", "longitude", "latitude",
        "ram_total_size", "tracking_mode", "on_cloud", "pue",
    ]

    public let path: String
    public let profile: ClusterProfile
    public let project: String          // the working group
    public let experiment: String       // the job name
    public let nodes: Int

    public init(path: String, profile: ClusterProfile, project: String, experiment: String, nodes: Int) {
        (self.path, self.profile, self.project, self.experiment, self.nodes) = (path, profile, project, experiment, nodes)
    }

    /// Writes (or rewrites) the row of launch `runID` with its totals so far.
    public func update(runID: String, seconds: Double, totals t: AccountingTotals, at date: Date = Date()) throws {
        var rows = (try? String(contentsOfFile: path, encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
        if rows.first != Self.columns.joined(separator: ",") { rows = [Self.columns.joined(separator: ",")] }
        rows.removeAll { $0.split(separator: ",", maxSplits: 3).dropFirst(2).first.map(String.init) == runID }
        rows.append(row(runID: runID, seconds: seconds, totals: t, at: date).joined(separator: ","))
        try (rows.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    func row(runID: String, seconds: Double, totals t: AccountingTotals, at date: Date) -> [String] {
        let pue = profile.pue, n = profile.node
        let watts = { (kwh: Double) in seconds > 0 ? kwh * 3.6e6 / seconds : 0 }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let fields: [String] = [
            formatter.string(from: date), project, runID, experiment,
            "\(seconds)", "\(t.emissionsKg)", "\(seconds > 0 ? t.emissionsKg / seconds : 0)",
            "\(watts(t.cpuKWh))", "\(watts(t.gpuKWh))", "\(watts(t.ramKWh))",
            "\(t.cpuKWh * pue)", "\(t.gpuKWh * pue)", "\(t.ramKWh * pue)", "\(t.energyKWh)",
            profile.country?.name ?? "", profile.country?.code ?? "", profile.site, "", "",
            Self.operatingSystem, "", "",
            "\(n.cores * nodes)", n.cpuModel, "\(n.gpus * nodes)", n.gpuModel, "", "",
            "\(n.ramGB * Double(nodes))", "process", "N", "\(pue)",
        ]
        return fields.map(CSV.field)
    }

    static let operatingSystem: String = {
        var u = utsname()
        uname(&u)
        func text<T>(_ field: inout T) -> String { withUnsafeBytes(of: &field) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) } }
        return "\(text(&u.sysname))-\(text(&u.release))-\(text(&u.machine))"
    }()
}
