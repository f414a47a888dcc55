import AtelierAccounting
import Foundation

/// Which part of the ledger a report covers.
public struct ReportFilter: Sendable {
    public var group: String?
    public var job: String?
    public var since: Date?
    public var until: Date?
    public var slurmJob: String?        // only the intervals of launches in this Slurm job (SLURM_JOB_ID)
    public init(group: String? = nil, job: String? = nil, since: Date? = nil, until: Date? = nil, slurmJob: String? = nil) {
        (self.group, self.job, self.since, self.until, self.slurmJob) = (group, job, since, until, slurmJob)
    }

    /// Whether the filter keeps only some of a job's intervals (so jobs with none are left out).
    var selectsIntervals: Bool { since != nil || until != nil || slurmJob != nil }
}

/// The figures of a job or a working group. Emissions include work lost to restarts (it was
/// consumed); `lost*` says how much of it that was.
public struct Usage: Codable, Sendable, Equatable {
    public var wallHours = 0.0          // the intervals' durations
    public var deviceHours = 0.0
    public var modelPFLOPs = 0.0
    public var meanMFU: Double?
    public var energyKWh = 0.0
    public var operationalKg = 0.0
    public var embodiedKg = 0.0
    public var totalKg: Double { operationalKg + embodiedKg }
    public var lostDeviceHours = 0.0
    public var lostKg = 0.0

    enum CodingKeys: String, CodingKey {
        case wallHours = "wall_hours", deviceHours = "device_hours", modelPFLOPs = "model_pflops", meanMFU = "mean_mfu", energyKWh = "energy_kwh"
        case operationalKg = "operational_kgco2eq", embodiedKg = "embodied_kgco2eq", totalKg = "total_kgco2eq"
        case lostDeviceHours = "lost_device_hours", lostKg = "lost_kgco2eq"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(wallHours, forKey: .wallHours); try c.encode(deviceHours, forKey: .deviceHours); try c.encode(modelPFLOPs, forKey: .modelPFLOPs)
        try c.encodeIfPresent(meanMFU, forKey: .meanMFU); try c.encode(energyKWh, forKey: .energyKWh)
        try c.encode(operationalKg, forKey: .operationalKg); try c.encode(embodiedKg, forKey: .embodiedKg)
        try c.encode(totalKg, forKey: .totalKg); try c.encode(lostDeviceHours, forKey: .lostDeviceHours)
        try c.encode(lostKg, forKey: .lostKg)
    }

    public init() {}
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        wallHours = try c.decode(Double.self, forKey: .wallHours); deviceHours = try c.decode(Double.self, forKey: .deviceHours); modelPFLOPs = try c.decode(Double.self, forKey: .modelPFLOPs)
        meanMFU = try c.decodeIfPresent(Double.self, forKey: .meanMFU); energyKWh = try c.decode(Double.self, forKey: .energyKWh)
        operationalKg = try c.decode(Double.self, forKey: .operationalKg); embodiedKg = try c.decode(Double.self, forKey: .embodiedKg)
        lostDeviceHours = try c.decode(Double.self, forKey: .lostDeviceHours); lostKg = try c.decode(Double.self, forKey: .lostKg)
    }

    /// Adds intervals; MFU is the mean over intervals weighted by their duration.
    mutating func add(_ intervals: [LedgerInterval]) {
        var weighted = (meanMFU ?? 0) * mfuSeconds, seconds = mfuSeconds
        for i in intervals {
            let t = i.record.totals
            wallHours += (i.record.end - i.record.start) / 3600
            deviceHours += t.deviceSeconds / 3600
            energyKWh += t.energyKWh
            operationalKg += t.emissionsKg
            embodiedKg += t.embodiedKg
            if i.lost {
                lostDeviceHours += t.deviceSeconds / 3600
                lostKg += t.emissionsKg + t.embodiedKg
            } else {
                modelPFLOPs += t.modelFlops / 1e15
            }
            if let mfu = i.record.mfu, !i.lost {
                let d = i.record.end - i.record.start
                weighted += mfu * d
                seconds += d
            }
        }
        mfuSeconds = seconds
        meanMFU = seconds > 0 ? weighted / seconds : nil
    }
    private var mfuSeconds = 0.0
}

public struct JobReport: Codable, Sendable {
    public var id, name, workingGroup, user, site, status, exitReason: String
    public var launches: Int
    public var started: Date
    public var ended: Date?
    public var lastRecord: Date?
    public var usage: Usage
    public var loss: [LossPoint]
    public var validation: ValidationSummary?
    public var slurm: SlurmAllocation?          // the latest launch's Slurm job, to match with sacct
    public var estimate: EstimateComparison?    // nil: no estimate recorded (no expected_mfu, or a job older than v6)
    public var work: WorkBreakdown              // useful training and lost work by cause

    enum CodingKeys: String, CodingKey {
        case id, name, workingGroup = "working_group", user, site, status, exitReason = "exit_reason", launches, started, ended
        case lastRecord = "last_record", usage, loss, validation, slurm, estimate = "estimate_against_actual", work = "lost_work"
    }
}

/// A job's newest per-dataset validation (loss in nats per token, bits per byte).
public struct ValidationSummary: Codable, Sendable {
    public var iteration: Int
    public var datasets: [String: [String: Double]]   // name -> {"loss", "bits_per_byte"}
}

public struct LossPoint: Codable, Sendable { public var iteration: Int; public var loss: Double }

public struct GroupReport: Codable, Sendable {
    public var name: String
    public var jobs: Int
    public var usage: Usage
    public var budgetDeviceHours: Double?
    public var budgetUsed: Double?      // fraction of the budget, over all the group's work in the ledger
    public var estimate: EstimateComparison?
    public var work: WorkBreakdown

    enum CodingKeys: String, CodingKey {
        case name, jobs, usage, budgetDeviceHours = "budget_device_hours", budgetUsed = "budget_used"
        case estimate = "estimate_against_actual", work = "lost_work"
    }
}

public struct EmissionsPoint: Codable, Sendable { public var time: Date; public var cumulativeKg: Double }

/// A report over the ledger (docs/accounting.md): per working group and per job.
public struct Report: Encodable, Sendable {
    public var generated: Date
    public var ledger: String
    public var groups: [GroupReport]
    public var jobs: [JobReport]
    public var total: Usage
    public var cumulativeEmissions: [EmissionsPoint]
    public var warnings: [String]
    /// A model's lineage to show with the ledger's figures (`atelier report --lineage PATH --html FILE`).
    public var lineage: LineageReport? = nil
    /// Cost per token, per language and in water (CostReport.swift).
    public var costs: CostReport

    enum CodingKeys: String, CodingKey {
        case generated, ledger, groups, jobs, total, cumulativeEmissions = "cumulative_emissions", warnings, costs
    }

    public static func build(ledger: Ledger, filter: ReportFilter, budgets: [String: Double?] = [:]) throws -> Report {
        let allJobs = try ledger.jobs()
        let jobs = allJobs.filter { j in
            (filter.group == nil || j.record.workingGroup == filter.group) && (filter.job == nil || j.record.name == filter.job)
        }
        let byJob = Dictionary(grouping: try ledger.intervals(since: filter.since?.timeIntervalSince1970 ?? -.infinity,
                                                              until: filter.until?.timeIntervalSince1970 ?? .infinity)
                                   .filter { filter.slurmJob == nil || $0.record.slurm?.jobID == filter.slurmJob },
                               by: \.record.jobID)
        let validations = try ledger.latestValidations()
        let estimates = try ledger.estimates(), endings = try ledger.launchEndings()
        var warnings: [String] = []
        var jobReports: [JobReport] = []
        var total = Usage()
        var all: [LedgerInterval] = []
        for j in jobs {
            let intervals = byJob[j.record.id] ?? []
            if filter.selectsIntervals && intervals.isEmpty { continue }
            var usage = Usage()
            usage.add(intervals)
            total.add(intervals)
            all += intervals
            let loss = intervals.filter { !$0.lost }.compactMap { i in i.record.loss.map { LossPoint(iteration: i.record.lastIteration, loss: $0) } }
            jobReports.append(JobReport(id: j.record.id, name: j.record.name, workingGroup: j.record.workingGroup, user: j.record.user,
                                        site: j.record.site, status: j.status, exitReason: j.exitReason, launches: j.launches,
                                        started: Date(timeIntervalSince1970: j.started),
                                        ended: j.ended.map { Date(timeIntervalSince1970: $0) },
                                        lastRecord: intervals.last.map { Date(timeIntervalSince1970: $0.record.end) },
                                        usage: usage, loss: loss,
                                        validation: validations[j.record.id].map { v in
                                            ValidationSummary(iteration: v.iteration, datasets: Dictionary(uniqueKeysWithValues: v.results.map {
                                                ($0.dataset, ["loss": $0.loss, "bits_per_byte": $0.bitsPerByte])
                                            }))
                                        },
                                        slurm: j.record.slurm,
                                        estimate: estimates[j.record.id].map { EstimateComparison($0, usage: usage) },
                                        work: WorkBreakdown.of(intervals, endings: endings[j.record.id] ?? [:], job: j.record.name,
                                                               warn: { warnings.append($0) })))
        }
        // Budgets count all of a group's work in the ledger, whatever the filter.
        let allIntervals = !filter.selectsIntervals && filter.job == nil ? nil : try ledger.intervals()
        let groupOf = Dictionary(allJobs.map { ($0.record.id, $0.record.workingGroup) }, uniquingKeysWith: { a, _ in a })
        var groups: [GroupReport] = []
        for name in Set(jobReports.map(\.workingGroup)).sorted() {
            let members = jobReports.filter { $0.workingGroup == name }
            var usage = Usage()
            usage.add(members.flatMap { byJob[$0.id] ?? [] })
            let budget = budgets[name] ?? nil
            var used: Double?
            if let budget, budget > 0 {
                let spent = (allIntervals ?? all).filter { groupOf[$0.record.jobID] == name }.reduce(0) { $0 + $1.record.totals.deviceSeconds } / 3600
                used = spent / budget
                if used! >= 1 { warnings.append("working group '\(name)' is over its budget: \(String(format: "%.4g", spent)) of \(String(format: "%.4g", budget)) device-hours") }
                else if used! >= 0.8 { warnings.append("working group '\(name)' has used \(String(format: "%.0f", 100 * used!))% of its budget") }
            }
            groups.append(GroupReport(name: name, jobs: members.count, usage: usage, budgetDeviceHours: budget, budgetUsed: used,
                                      estimate: EstimateComparison.sum(members.compactMap(\.estimate)),
                                      work: members.map(\.work).reduce(WorkBreakdown(), +)))
        }
        var running = 0.0
        let series = all.sorted { $0.record.end < $1.record.end }.map { i -> EmissionsPoint in
            running += i.record.totals.emissionsKg + i.record.totals.embodiedKg
            return EmissionsPoint(time: Date(timeIntervalSince1970: i.record.end), cumulativeKg: running)
        }
        let costs = try CostReport.build(ledger: ledger, jobs: jobReports.map { ($0.id, $0.name, $0.workingGroup) }, intervals: byJob,
                                         filter: filter)
        return Report(generated: Date(), ledger: ledger.path, groups: groups, jobs: jobReports, total: total,
                      cumulativeEmissions: series, warnings: warnings + costs.warnings, costs: costs)
    }
}
