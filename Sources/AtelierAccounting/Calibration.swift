import Foundation

/// Device-hours, energy and emissions of a job: estimated, or measured.
public struct Consumption: Codable, Sendable, Equatable {
    public var deviceHours: Double
    public var energyKWh: Double
    public var totalKg: Double          // operational + embodied

    public init(deviceHours: Double, energyKWh: Double, totalKg: Double) {
        (self.deviceHours, self.energyKWh, self.totalKg) = (deviceHours, energyKWh, totalKg)
    }

    public init(_ e: EstimateRecord) { self.init(deviceHours: e.deviceHours, energyKWh: e.energyKWh, totalKg: e.totalKg) }
    public init(_ e: Estimate) { self.init(deviceHours: e.deviceHours, energyKWh: e.energyKWh, totalKg: e.totalKg) }

    /// Field by field, `self` over `other`: actual / estimate.
    public func ratio(to other: Consumption) -> Consumption {
        Consumption(deviceHours: deviceHours / other.deviceHours, energyKWh: energyKWh / other.energyKWh, totalKg: totalKg / other.totalKg)
    }

    public static func + (a: Consumption, b: Consumption) -> Consumption {
        Consumption(deviceHours: a.deviceHours + b.deviceHours, energyKWh: a.energyKWh + b.energyKWh, totalKg: a.totalKg + b.totalKg)
    }

    public static let zero = Consumption(deviceHours: 0, energyKWh: 0, totalKg: 0)

    enum CodingKeys: String, CodingKey { case deviceHours = "device_hours", energyKWh = "energy_kwh", totalKg = "total_kgco2eq" }
}

/// A finished job's recorded estimate and what it used (all its intervals, work lost to
/// restarts included: it was consumed).
public struct EstimateOutcome: Sendable, Equatable {
    public var jobID: String
    public var workingGroup: String
    public var estimate: EstimateRecord
    public var actual: Consumption
    public var ratio: Consumption { actual.ratio(to: Consumption(estimate)) }

    public init(jobID: String, workingGroup: String, estimate: EstimateRecord, actual: Consumption) {
        (self.jobID, self.workingGroup, self.estimate, self.actual) = (jobID, workingGroup, estimate, actual)
    }
}

/// The median and range of actual / estimate over some jobs.
public struct RatioSpread: Codable, Sendable, Equatable {
    public var median: Double
    public var low: Double
    public var high: Double

    public init(median: Double, low: Double, high: Double) { (self.median, self.low, self.high) = (median, low, high) }

    /// nil without values. The median of an even count is the mean of the middle two.
    public init?(_ values: [Double]) {
        let sorted = values.filter(\.isFinite).sorted()
        guard let first = sorted.first, let last = sorted.last else { return nil }
        let mid = sorted.count / 2
        median = sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
        (low, high) = (first, last)
    }
}

/// How a site's (or a working group's) finished jobs compared with their estimates, and that
/// ratio applied to a new estimate (docs/accounting.md, "Calibrated estimates").
public struct Calibration: Codable, Sendable, Equatable {
    /// A working group's own history is used from this many finished jobs; below, the site's.
    public static let minimumGroupJobs = 3

    public var scope: String             // "working group NAME" or "site"
    public var jobs: Int
    public var deviceHours: RatioSpread
    public var energyKWh: RatioSpread
    public var totalKg: RatioSpread

    enum CodingKeys: String, CodingKey { case scope, jobs, deviceHours = "device_hours", energyKWh = "energy_kwh", totalKg = "total_kgco2eq" }

    /// From the outcomes of the site's finished jobs: the group's when it has at least
    /// `minimumGroupJobs`, else all of them; nil without any (or when no ratio is finite).
    public init?(history: [EstimateOutcome], group: String?) {
        var chosen = history
        scope = "site"
        if let group, case let own = history.filter({ $0.workingGroup == group }), own.count >= Self.minimumGroupJobs {
            chosen = own
            scope = "working group \(group)"
        }
        let ratios = chosen.map(\.ratio)
        guard let d = RatioSpread(ratios.map(\.deviceHours)), let e = RatioSpread(ratios.map(\.energyKWh)),
              let k = RatioSpread(ratios.map(\.totalKg)) else { return nil }
        jobs = chosen.count
        (deviceHours, energyKWh, totalKg) = (d, e, k)
    }

    /// `estimate` times the median, lowest and highest ratios.
    public func applied(to estimate: Consumption) -> (median: Consumption, low: Consumption, high: Consumption) {
        func scaled(_ pick: (RatioSpread) -> Double) -> Consumption {
            Consumption(deviceHours: estimate.deviceHours * pick(deviceHours), energyKWh: estimate.energyKWh * pick(energyKWh),
                        totalKg: estimate.totalKg * pick(totalKg))
        }
        return (scaled(\.median), scaled(\.low), scaled(\.high))
    }
}

extension Ledger {
    /// The recorded estimate and the actual use of every finished job of the ledger; none when
    /// the ledger predates estimates (it is read as it is, not migrated).
    public func estimateOutcomes() throws -> [EstimateOutcome] {
        try read { db in
            guard try db.fetchOne(sql: db.dialect.tableExists, arguments: ["estimates"]) != nil else { return [] }
            return try db.fetchAll(sql: """
                SELECT e.*, j.working_group, u.used_device_seconds, u.used_kwh, u.used_kg
                FROM estimates e JOIN jobs j ON j.id = e.job_id
                JOIN (SELECT job_id, SUM(device_seconds) AS used_device_seconds, SUM(energy_kwh) AS used_kwh,
                             SUM(emissions_kg + embodied_kg) AS used_kg FROM intervals GROUP BY job_id) u ON u.job_id = e.job_id
                WHERE j.status = 'finished' ORDER BY e.at, e.job_id
                """).map { row in
                try EstimateOutcome(jobID: row["job_id"], workingGroup: row["working_group"], estimate: EstimateRecord(row: row),
                                    actual: Consumption(deviceHours: (row["used_device_seconds"] as Double) / 3600, energyKWh: row["used_kwh"],
                                                        totalKg: row["used_kg"]))
            }
        }
    }
}
