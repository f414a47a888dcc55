import AtelierAccounting
import Foundation

/// A job's (or the sum of a group's jobs') estimate before its first launch against what it
/// used in the report's intervals: device-hours, kWh and kgCO2eq (operational + embodied, work
/// lost to restarts included), and actual / estimate.
public struct EstimateComparison: Codable, Sendable, Equatable {
    public var jobs: Int                  // jobs with an estimate (1 for a job)
    public var estimated: Consumption
    public var actual: Consumption
    public var ratio: Consumption { actual.ratio(to: estimated) }

    enum CodingKeys: String, CodingKey { case jobs, estimated, actual, ratio }

    public init(jobs: Int, estimated: Consumption, actual: Consumption) { (self.jobs, self.estimated, self.actual) = (jobs, estimated, actual) }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        jobs = try c.decode(Int.self, forKey: .jobs)
        estimated = try c.decode(Consumption.self, forKey: .estimated)
        actual = try c.decode(Consumption.self, forKey: .actual)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(jobs, forKey: .jobs); try c.encode(estimated, forKey: .estimated)
        try c.encode(actual, forKey: .actual); try c.encode(ratio, forKey: .ratio)
    }

    /// A job's: its recorded estimate and its usage.
    init(_ estimate: EstimateRecord, usage: Usage) {
        self.init(jobs: 1, estimated: Consumption(estimate),
                  actual: Consumption(deviceHours: usage.deviceHours, energyKWh: usage.energyKWh, totalKg: usage.totalKg))
    }

    /// A group's: the sums over its jobs that have an estimate; nil when none has.
    static func sum(_ jobs: [EstimateComparison]) -> EstimateComparison? {
        guard !jobs.isEmpty else { return nil }
        return EstimateComparison(jobs: jobs.count, estimated: jobs.map(\.estimated).reduce(.zero, +), actual: jobs.map(\.actual).reduce(.zero, +))
    }
}
