/// The Slurm allocation a launch runs in, from the variables Slurm sets in a batch job; recorded
/// with the job and each of its intervals so that a launch can be matched to `sacct`.
public struct SlurmAllocation: Codable, Sendable, Equatable {
    public var jobID: String        // SLURM_JOB_ID
    public var account: String      // SLURM_JOB_ACCOUNT ("" when Slurm does not say)
    public var partition: String    // SLURM_JOB_PARTITION
    public var nodeList: String     // SLURM_JOB_NODELIST, Slurm's compressed form: node[01-04]

    enum CodingKeys: String, CodingKey { case jobID = "job_id", account, partition, nodeList = "nodelist" }

    public init(jobID: String, account: String, partition: String, nodeList: String) {
        (self.jobID, self.account, self.partition, self.nodeList) = (jobID, account, partition, nodeList)
    }

    /// The allocation of a process under Slurm; nil outside Slurm (no SLURM_JOB_ID).
    public init?(environment: [String: String]) {
        guard let id = environment["SLURM_JOB_ID"], !id.isEmpty else { return nil }
        self.init(jobID: id, account: environment["SLURM_JOB_ACCOUNT"] ?? "", partition: environment["SLURM_JOB_PARTITION"] ?? "",
                  nodeList: environment["SLURM_JOB_NODELIST"] ?? "")
    }

    /// The ledger's columns, in the order of `values` (on jobs and on intervals).
    public static let columns = ["slurm_job_id", "slurm_account", "slurm_partition", "slurm_nodelist"]

    /// The column values of an optional allocation: NULLs outside Slurm.
    static func values(_ allocation: SlurmAllocation?) -> LedgerArguments {
        guard let a = allocation else { return Array(repeating: LedgerValue.null, count: columns.count) }
        return [a.jobID, a.account, a.partition, a.nodeList]
    }

    /// The allocation a row records; nil when it has none (written outside Slurm, or before v4).
    static func from(_ row: LedgerRow) throws -> SlurmAllocation? {
        guard row.columns.contains(columns[0]) else { return nil }
        let id: String? = try row[columns[0]], account: String? = try row[columns[1]]
        let partition: String? = try row[columns[2]], nodeList: String? = try row[columns[3]]
        guard let id else { return nil }
        return SlurmAllocation(jobID: id, account: account ?? "", partition: partition ?? "", nodeList: nodeList ?? "")
    }
}
