import Foundation

/// What `atelier report` reads out of the ledger.
public struct LedgerJob: Sendable, Equatable {
    public var record: JobRecord
    public var launches: Int
    public var started: Double
    public var ended: Double?
    public var status: String
    public var exitReason: String
}

public struct LedgerInterval: Sendable, Equatable {
    public var record: IntervalRecord
    public var lost: Bool
}

public struct LedgerEvent: Sendable, Equatable {
    public var jobID: String
    public var at: Double
    public var kind: String
    public var message: String
}

extension Ledger {
    public func jobs() throws -> [LedgerJob] {
        try read { db in
            try db.fetchAll(sql: "SELECT * FROM jobs ORDER BY started_at, id").map { row in
                try LedgerJob(record: JobRecord(id: row["id"], name: row["name"], workingGroup: row["working_group"], user: row["user"],
                                                jobHash: row["job_hash"], profile: row["profile"], site: row["site"],
                                                runDirectory: row["run_dir"], worldSize: row["world_size"], slurm: SlurmAllocation.from(row)),
                              launches: row["segments"], started: row["started_at"], ended: row["ended_at"],
                              status: row["status"], exitReason: row["exit_reason"])
            }
        }
    }

    /// Intervals that ended in [since, until], oldest first.
    public func intervals(since: Double = -.infinity, until: Double = .infinity) throws -> [LedgerInterval] {
        try read { db in
            try db.fetchAll(sql: "SELECT * FROM intervals WHERE \"end\" >= ? AND \"end\" <= ? ORDER BY \"end\", job_id, segment, seq",
                            arguments: [since.isFinite ? since : -1e18, until.isFinite ? until : 1e18]).map { row in
                let t = AccountingTotals(unchecked: try AccountingTotals.fieldNames.map { try row[$0] as Double })
                return try LedgerInterval(record: IntervalRecord(jobID: row["job_id"], segment: row["segment"], sequence: row["seq"],
                                                                 start: row["start"], end: row["end"], firstIteration: row["first_iteration"],
                                                                 lastIteration: row["last_iteration"], tokens: row["tokens"],
                                                                 loss: row["loss"], mfu: row["mfu"], totals: t, slurm: SlurmAllocation.from(row),
                                                                 overheads: IntervalOverheads(values: try IntervalOverheads.columns.map { try row[$0] as Double })),
                                          lost: row["lost"])
            }
        }
    }

    /// Each job's newest validation, per dataset: job id -> (iteration, records).
    public func latestValidations() throws -> [String: (iteration: Int, results: [ValidationRecord])] {
        try read { db in
            var out: [String: (Int, [ValidationRecord])] = [:]
            for row in try db.fetchAll(sql: """
                SELECT v.* FROM validations v JOIN (SELECT job_id, MAX(iteration) AS latest FROM validations GROUP BY job_id) m
                ON v.job_id = m.job_id AND v.iteration = m.latest ORDER BY v.job_id, v.dataset
                """) {
                let id: String = try row["job_id"]
                let record = try ValidationRecord(dataset: row["dataset"], loss: row["loss"], bitsPerByte: row["bits_per_byte"])
                let iteration: Int = try row["iteration"]
                out[id, default: (iteration, [])].1.append(record)
            }
            return out.mapValues { (iteration: $0.0, results: $0.1) }
        }
    }

    /// Every job's recorded estimate, by job id.
    public func estimates() throws -> [String: EstimateRecord] {
        try read { db in
            var out: [String: EstimateRecord] = [:]
            for row in try db.fetchAll(sql: "SELECT * FROM estimates") { out[try row["job_id"]] = try EstimateRecord(row: row) }
            return out
        }
    }

    /// How each recorded launch ended, by job id and launch.
    public func launchEndings() throws -> [String: [Int: LaunchEnding]] {
        try read { db in
            var out: [String: [Int: LaunchEnding]] = [:]
            for row in try db.fetchAll(sql: "SELECT job_id, segment, ending FROM launch_endings") {
                let text: String = try row["ending"]
                guard let ending = LaunchEnding(rawValue: text) else {
                    throw LedgerRow.Unreadable(column: "ending", value: .text(text), type: "LaunchEnding")
                }
                out[try row["job_id"], default: [:]][try row["segment"]] = ending
            }
            return out
        }
    }

    public func events() throws -> [LedgerEvent] {
        try read { db in
            try db.fetchAll(sql: "SELECT * FROM events ORDER BY at, id").map {
                try LedgerEvent(jobID: $0["job_id"], at: $0["at"], kind: $0["kind"], message: $0["message"])
            }
        }
    }
}
