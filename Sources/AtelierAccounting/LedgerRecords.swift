import Foundation

/// A job in the ledger: one run directory, across all its launches (resumes continue it).
public struct JobRecord: Codable, Sendable, Equatable {
    public var id: String               // a UUID kept in the run directory (ledger-id)
    public var name: String
    public var workingGroup: String
    public var user: String
    public var jobHash: String          // fingerprint of the resolved job file
    public var profile: String          // the cluster profile's path
    public var site: String
    public var runDirectory: String
    public var worldSize: Int
    public var slurm: SlurmAllocation?  // the latest launch's Slurm allocation; nil outside Slurm

    public init(id: String, name: String, workingGroup: String, user: String, jobHash: String, profile: String,
                site: String, runDirectory: String, worldSize: Int, slurm: SlurmAllocation? = nil) {
        (self.id, self.name, self.workingGroup, self.user, self.jobHash) = (id, name, workingGroup, user, jobHash)
        (self.profile, self.site, self.runDirectory, self.worldSize, self.slurm) = (profile, site, runDirectory, worldSize, slurm)
    }
}

/// One accounting interval of a job: what all its nodes did between two boundaries.
public struct IntervalRecord: Codable, Sendable, Equatable {
    public var jobID: String
    public var segment: Int             // which launch of the job (1, 2, ... after resumes)
    public var sequence: Int            // interval number within the launch
    public var start: Double            // seconds since 1970
    public var end: Double
    public var firstIteration: Int      // iterations (first, last] were trained in it
    public var lastIteration: Int
    public var tokens: Int
    public var loss: Double?            // mean training loss over the interval
    public var mfu: Double?
    public var totals: AccountingTotals
    public var slurm: SlurmAllocation?  // the launch's Slurm allocation; nil outside Slurm
    /// Tokens per language (a mixture's datasets), all ranks summed; nil for other data and for
    /// records written before languages were counted (optional, so old spill lines still decode).
    public var languages: [LanguageTokens]?
    /// Litres of water with the profile of the time; nil for records written before water was kept.
    public var water: WaterUse?
    /// Seconds that trained nothing, by cause; nil for records written before they were measured.
    public var overheads: IntervalOverheads?

    public init(jobID: String, segment: Int, sequence: Int, start: Double, end: Double, firstIteration: Int,
                lastIteration: Int, tokens: Int, loss: Double?, mfu: Double?, totals: AccountingTotals,
                slurm: SlurmAllocation? = nil, languages: [LanguageTokens]? = nil, water: WaterUse? = nil,
                overheads: IntervalOverheads? = nil) {
        (self.jobID, self.segment, self.sequence, self.start, self.end) = (jobID, segment, sequence, start, end)
        (self.firstIteration, self.lastIteration, self.tokens, self.loss, self.mfu, self.totals) = (firstIteration, lastIteration, tokens, loss, mfu, totals)
        (self.slurm, self.languages, self.water, self.overheads) = (slurm, languages, water, overheads)
    }
}

/// How a launch ended.
public enum JobStatus: String, Codable, Sendable {
    case running, finished, stopped, failed
}

/// A write to the ledger, kept in order; what could not be written is kept and retried (and, at
/// exit, spilled to the run directory as JSON lines and replayed by the next launch).
public enum LedgerOperation: Codable, Sendable, Equatable {
    case begin(JobRecord, segment: Int, at: Double)
    case interval(IntervalRecord)
    case lost(jobID: String, afterIteration: Int, segment: Int)
    case end(jobID: String, status: JobStatus, reason: String, at: Double)
    case event(jobID: String, kind: String, message: String, at: Double)
    case validation(jobID: String, iteration: Int, results: [ValidationRecord], at: Double)
    /// What `atelier estimate` would have said before the job's first launch; the first is kept.
    case estimate(EstimateRecord)
    /// How one launch ended, for the work a later launch redoes; the first record is kept.
    case launchEnded(jobID: String, segment: Int, ending: LaunchEnding, reason: String, at: Double)
}

/// The estimate a job's first launch made from its job file and profile (`Estimate`), against
/// which its actual consumption is compared (docs/accounting.md, "Calibrated estimates").
public struct EstimateRecord: Codable, Sendable, Equatable {
    public var jobID: String
    public var at: Double                  // seconds since 1970
    public var mfu: Double                 // the profile's expected_mfu
    public var devicePeakFLOPs: Double     // FLOP/s per device
    public var tokens: Double
    public var modelFlops: Double
    public var deviceHours: Double
    public var energyKWh: Double
    public var operationalKg: Double
    public var embodiedKg: Double
    public var totalKg: Double { operationalKg + embodiedKg }

    public init(jobID: String, at: Double, mfu: Double, devicePeakFLOPs: Double, tokens: Double, modelFlops: Double,
                deviceHours: Double, energyKWh: Double, operationalKg: Double, embodiedKg: Double) {
        (self.jobID, self.at, self.mfu, self.devicePeakFLOPs, self.tokens, self.modelFlops) = (jobID, at, mfu, devicePeakFLOPs, tokens, modelFlops)
        (self.deviceHours, self.energyKWh, self.operationalKg, self.embodiedKg) = (deviceHours, energyKWh, operationalKg, embodiedKg)
    }

    /// The ledger's columns (migration v6), in the order of `values`.
    static let columns = ["job_id", "at", "mfu", "device_peak_flops", "tokens", "model_flops", "device_hours", "energy_kwh",
                          "operational_kg", "embodied_kg"]
    var values: LedgerArguments { [jobID, at, mfu, devicePeakFLOPs, tokens, modelFlops, deviceHours, energyKWh, operationalKg, embodiedKg] }

    init(row: LedgerRow) throws {
        self.init(jobID: try row["job_id"], at: try row["at"], mfu: try row["mfu"], devicePeakFLOPs: try row["device_peak_flops"],
                  tokens: try row["tokens"], modelFlops: try row["model_flops"], deviceHours: try row["device_hours"],
                  energyKWh: try row["energy_kwh"], operationalKg: try row["operational_kg"], embodiedKg: try row["embodied_kg"])
    }
}

/// Validation loss of one dataset (a language) at one iteration.
public struct ValidationRecord: Codable, Sendable, Equatable {
    public var dataset: String
    public var loss: Double
    public var bitsPerByte: Double
    public init(dataset: String, loss: Double, bitsPerByte: Double) { (self.dataset, self.loss, self.bitsPerByte) = (dataset, loss, bitsPerByte) }
}
