import AtelierAccounting
import AtelierCheckpoint
import AtelierDistributed
import AtelierJob
import Foundation
import MPI

/// The accounting of one launch of a job (docs/accounting.md). Every rank holds one; the local
/// rank 0 of each node measures its node (`NodeAccountant`), so N ranks on a node count once.
/// Intervals close on rank 0's clock (every `accounting.interval_seconds`), after each
/// evaluation, before each checkpoint and at the end: all ranks add their node figures and their
/// samples per language with one all-reduce, and rank 0 adds the FLOPs, keeps the cumulative
/// totals the checkpoint carries, and hands the interval (with its tokens per language and its
/// water) to the ledger writer (background, buffered) and to emissions.csv. Rank 0 also measures
/// the seconds of each interval that trained nothing (start-up, evaluation, checkpoint saves,
/// skipped iterations) and records the estimate of the job's first launch.
final class JobAccounting {
    let job: Job
    let comm: Communicator
    let profile: ClusterProfile
    let chain: EnergyChain
    let accountant: NodeAccountant?    // on each node's local rank 0
    let devicesOnNode: Int
    let nodes: Int
    let blasThreads: Int
    private let warn: @Sendable (String) -> Void
    /// The mixture's datasets (languages), and this rank's samples of each since the interval began.
    private let languages: [String]
    private var languageSamples: [Int]

    // rank 0 only
    private var writer: LedgerWriter?
    private var csv: EmissionsCSV?
    private let csvQueue = DispatchQueue(label: "atelier.emissions-csv")   // off the training thread
    private(set) var record: JobRecord?
    private(set) var segment = 0
    private let launchID = UUID().uuidString.lowercased()
    private(set) var totals = AccountingTotals()        // cumulative, as the checkpoint carries them
    private var launchTotals = AccountingTotals()
    private var sequence = 0
    private var intervalStart = Date()
    private let launchStart = DispatchTime.now().uptimeNanoseconds
    private var lastClose = DispatchTime.now().uptimeNanoseconds
    private var firstIteration = 0
    private var lossSum = 0.0, lossCount = 0
    private var overheads = IntervalOverheads()        // this interval's, on rank 0's clock
    private let slurm = SlurmAllocation(environment: ProcessInfo.processInfo.environment)   // recorded with the job and its intervals
    var peakPerRank = 0.0     // sgemm FLOP/s per rank, for MFU

    /// Loads the profile (on every rank, so that a bad profile fails everywhere alike) and starts
    /// the node accountants. Collective.
    init(job: Job, comm: Communicator, topology: NodeTopology, blasThreads: Int, languages: [String],
         warn: @escaping @Sendable (String) -> Void) throws {
        self.job = job
        self.languages = languages
        languageSamples = [Int](repeating: 0, count: languages.count)
        self.comm = comm
        self.warn = warn
        self.blasThreads = blasThreads
        _ = try LedgerLocation(job.accounting.ledger)   // a bad ledger URL fails every rank before training, exit 2
        profile = try ClusterProfile.load(path: try Self.profilePath(job))
        try profile.checkWorkingGroup(job.workingGroup, jobFile: job.sourcePath)
        chain = EnergyChain(profile: profile)
        let pids = try topology.node.allGather([UInt64(getpid())]).map { Int32(truncatingIfNeeded: $0) }
        devicesOnNode = profile.node.device == .gpu
            ? min(profile.node.gpus, topology.localSize)
            : min(profile.node.cores, topology.localSize * blasThreads)
        nodes = max(1, topology.worldSize / max(1, topology.localSize))
        accountant = topology.localRank == 0 ? NodeAccountant(pids: pids, sampleSeconds: job.accounting.intervalSeconds) : nil
    }

    /// The profile the job names, or cluster/local.toml found from the current directory or up
    /// from the job file.
    static func profilePath(_ job: Job) throws -> String {
        if let path = job.accounting.clusterProfile { return path }
        var candidates = ["cluster/local.toml"]
        var dir = URL(fileURLWithPath: job.sourcePath).standardizedFileURL.deletingLastPathComponent()
        while dir.path != "/" {
            candidates.append(dir.appendingPathComponent("cluster/local.toml").path)
            dir.deleteLastPathComponent()
        }
        guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw JobError.missing(file: job.sourcePath, field: "accounting.cluster_profile",
                                   expected: "a cluster profile (no cluster/local.toml here or above the job file)")
        }
        return found
    }

    /// Rank 0: refuses to start a working group at 100% of its budget unless `overBudget`, warns
    /// from 80%; both are recorded. Collective (all ranks learn rank 0's decision).
    func checkBudget(overBudget: Bool, say: (String) -> Void) throws {
        var refuse = [0.0]
        var refusal: AccountingError?
        if comm.rank == 0, let budget = profile.workingGroups[job.workingGroup] ?? nil, budget > 0 {
            do {
                let used = try Ledger(path: job.accounting.ledger).usedDeviceHours(workingGroup: job.workingGroup)
                let fraction = used / budget
                if fraction >= 1 {
                    if overBudget {
                        let message = "working group '\(job.workingGroup)' is over budget (\(String(format: "%.4g", used)) of \(String(format: "%.4g", budget)) device-hours); started with --over-budget"
                        warn(message)
                        pendingEvents.append(("over-budget", message))
                    } else {
                        refusal = AccountingError.overBudget(group: job.workingGroup, used: used, budget: budget, profile: profile.path)
                        refuse[0] = 1
                    }
                } else if fraction >= 0.8 {
                    let message = "working group '\(job.workingGroup)' has used \(String(format: "%.0f", 100 * fraction))% of its budget (\(String(format: "%.4g", used)) of \(String(format: "%.4g", budget)) device-hours)"
                    warn(message)
                    pendingEvents.append(("budget-warning", message))
                }
            } catch {
                warn("\(error); the budget of '\(job.workingGroup)' is not checked")
            }
        }
        try comm.allReduceMax(&refuse)
        if refuse[0] > 0 { throw refusal ?? AccountingError.overBudget(group: job.workingGroup, used: 0, budget: 0, profile: profile.path) }
    }
    private var pendingEvents: [(String, String)] = []

    /// An event to record when the launch begins (rank 0).
    func note(_ kind: String, message: String) { pendingEvents.append((kind, message)) }

    /// Rank 0: opens the job's ledger record (continuing it on resume) at `iteration` with the
    /// checkpoint's `resumed` totals; work recorded past that iteration is marked lost.
    func begin(iteration: Int, resumed: AccountingTotals, say: (String) -> Void) throws {
        totals = resumed
        firstIteration = iteration
        guard comm.rank == 0 else { return }
        let (id, segment) = try Self.nextLaunch(runDirectory: job.runDirectory)
        self.segment = segment
        let user = ProcessInfo.processInfo.environment["USER"] ?? getpwuid(getuid()).map { String(cString: $0.pointee.pw_name) } ?? "uid \(getuid())"
        let record = JobRecord(id: id, name: job.name, workingGroup: job.workingGroup, user: user,
                               jobHash: String(job.fingerprint, radix: 16), profile: profile.path, site: profile.site,
                               runDirectory: job.runDirectory, worldSize: comm.size, slurm: slurm)
        self.record = record
        let writer = LedgerWriter(ledgerPath: job.accounting.ledger, spillPath: job.runDirectory + "/ledger-pending.jsonl", warn: warn)
        self.writer = writer
        let now = Date().timeIntervalSince1970
        writer.submit(.begin(record, segment: segment, at: now))
        writer.submit(.lost(jobID: id, afterIteration: iteration, segment: segment))
        for (kind, message) in pendingEvents { writer.submit(.event(jobID: id, kind: kind, message: message, at: now)) }
        if segment > 1 {
            writer.submit(.event(jobID: id, kind: "launch", message: "launch \(segment) from iteration \(iteration) on \(comm.size) ranks", at: now))
        } else if let estimate = estimateBeforeStart()?.record(jobID: id, at: now) {
            writer.submit(.estimate(estimate))
            say("estimate before start (\(profile.path), expected MFU \(String(format: "%.0f", 100 * estimate.mfu))%): \(String(format: "%.4g", estimate.deviceHours)) device-hours, \(String(format: "%.4g", estimate.energyKWh)) kWh, \(String(format: "%.4g", estimate.totalKg)) kgCO2eq; recorded in the ledger")
        } else {
            say("no estimate recorded: \(profile.path) has no expected_mfu")
        }
        csv = EmissionsCSV(path: job.runDirectory + "/emissions.csv", profile: profile, project: job.workingGroup,
                           experiment: job.name, nodes: nodes)
        let energy = accountant?.measuresEnergy == true ? "CPU energy from RAPL" : "CPU power modelled from utilisation (no RAPL here)"
        say("accounting: \(profile.site) (\(profile.path)): \(String(format: "%.1f", profile.carbonIntensity)) gCO2eq/kWh, PUE \(profile.pue); \(energy); every \(job.accounting.intervalSeconds) s into \(job.accounting.ledger)")
    }

    /// What `atelier estimate` says of this job with the profile's expected MFU (nil without one),
    /// at the profile's peak per device or this rank's measured sgemm peak per BLAS thread.
    func estimateBeforeStart() -> Estimate? {
        guard let mfu = profile.expectedMFU else { return nil }
        let peak = Estimate.devicePeak(profile) { peakPerRank / Double(max(1, blasThreads)) }
        return Estimate(job: job, profile: profile, mfu: mfu, devicePeakFLOPs: peak)
    }

    /// The run directory's ledger id (created on first launch) and this launch's number.
    static func nextLaunch(runDirectory: String) throws -> (String, Int) {
        let path = runDirectory + "/ledger-id"
        let recorded = recordedLaunch(runDirectory: runDirectory)
        let id = recorded?.id ?? UUID().uuidString.lowercased()
        let segment = (recorded?.launch ?? 0) + 1
        try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
        try "\(id)\n\(segment)\n".write(toFile: path, atomically: true, encoding: .utf8)
        return (id, segment)
    }

    /// What RUN_DIR/ledger-id holds: the job's ledger id and the last launch's number, if any.
    static func recordedLaunch(runDirectory: String) -> (id: String, launch: Int)? {
        let lines = ((try? String(contentsOfFile: runDirectory + "/ledger-id", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        guard let id = lines.first, UUID(uuidString: id) != nil else { return nil }
        return (id, lines.count > 1 ? Int(lines[1]) ?? 0 : 0)
    }

    /// Rank 0's clock says an interval is due.
    var isDue: Bool {
        comm.rank == 0 && Double(DispatchTime.now().uptimeNanoseconds - lastClose) / 1e9 >= job.accounting.intervalSeconds
    }

    func add(_ result: StepResult) {
        if result.loss.isFinite { lossSum += result.loss; lossCount += 1 }
        if result.skipped { overheads.skippedSeconds += result.seconds }
        for (i, n) in result.samplesPerComponent.enumerated() where i < languageSamples.count { languageSamples[i] += n }
    }

    /// The first step begins: the launch's start-up (profile, resume, sgemm peak, ...) ends.
    func trainingStarts() {
        overheads.startupSeconds += Self.seconds(since: lastClose)
    }

    /// Training was blocked by an evaluation that began at `start` (uptime ns).
    func evaluated(since start: UInt64) { overheads.evaluationSeconds += Self.seconds(since: start) }

    /// Training was blocked by a checkpoint save that began at `start` (uptime ns).
    func saved(since start: UInt64) { overheads.checkpointSeconds += Self.seconds(since: start) }

    static func seconds(since start: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }

    /// Closes the interval at `iteration`. Collective.
    func close(iteration: Int) throws {
        // [totals, nodes, samples per language]: the node's figures (local rank 0 only) and this
        // rank's samples, summed over all ranks in one all-reduce. Sample counts are exact in a
        // Double up to 2^53.
        let fields = AccountingTotals.fieldNames.count
        var values = [Double](repeating: 0, count: fields + 1)
        if let accountant {
            let r = accountant.take()
            values = chain.node(seconds: r.seconds, devicesUsed: devicesOnNode, cpuSeconds: r.cpuSeconds, cpuJoules: r.cpuJoules).values + [1]
        }
        values += languageSamples.map(Double.init)
        languageSamples = languageSamples.map { _ in 0 }
        try comm.allReduceSum(&values)
        guard comm.rank == 0, let record else { return }
        let nodeValues = Array(values[0..<fields])
        var t = AccountingTotals()
        if let checked = AccountingTotals(values: nodeValues) {
            t = checked
        } else if let (field, value) = AccountingTotals.firstInvalid(nodeValues) {
            // A meter that went wrong (a counter that ran backwards, a missing reading): say what
            // this interval loses rather than count a wrong figure; training goes on.
            let message = "accounting interval \(sequence + 1) (iterations \(firstIteration)-\(iteration)): \(field) is \(value); its energy and emissions are not counted"
            warn(message)
            event("accounting-interval-dropped", message: message)
        }
        let now = DispatchTime.now().uptimeNanoseconds
        let seconds = Double(now - lastClose) / 1e9
        let tokens = (iteration - firstIteration) * job.batch.globalBatchSize * job.model.sequenceLength
        t.modelFlops = Double(tokens) * job.model.flopsPerToken
        t.hardwareFlops = t.modelFlops     // no activation recomputation in this engine
        totals += t
        launchTotals += t
        sequence += 1
        let end = Date()
        let mfu = seconds > 0 && peakPerRank > 0 ? t.modelFlops / (seconds * Double(comm.size) * peakPerRank) : nil
        let interval = IntervalRecord(jobID: record.id, segment: segment, sequence: sequence,
                                      start: intervalStart.timeIntervalSince1970, end: end.timeIntervalSince1970,
                                      firstIteration: firstIteration, lastIteration: iteration, tokens: tokens,
                                      loss: lossCount > 0 ? lossSum / Double(lossCount) : nil, mfu: mfu, totals: t, slurm: slurm,
                                      languages: languageTokens(Array(values[(fields + 1)...]), expected: tokens, iteration: iteration),
                                      water: WaterUse(t, profile: profile), overheads: overheads)
        if interval.languages != nil && tokens > 0 && LanguageAttribution.intervalUnits(t, water: interval.water) == nil {
            event("languages-not-attributed", message: "accounting interval \(sequence) (iterations \(firstIteration)-\(iteration)): a figure is too large for the per-language units (\(t.energyKWh) kWh); it is not split among the languages")
        }
        writer?.submit(.interval(interval))
        if let csv {
            let (runID, seconds, totals, warn) = (launchID, Double(now - launchStart) / 1e9, launchTotals, warn)
            csvQueue.async {
                do { try csv.update(runID: runID, seconds: seconds, totals: totals, at: end) } catch {
                    warn("cannot write \(csv.path): \(error)")
                }
            }
        }
        intervalStart = end
        lastClose = now
        firstIteration = iteration
        lossSum = 0; lossCount = 0
        overheads = IntervalOverheads()
    }

    /// Rank 0: the interval's tokens per language from the summed sample counts; nil without a
    /// mixture. Counts that do not add up to the interval's tokens (a bug) are said and recorded.
    private func languageTokens(_ samples: [Double], expected: Int, iteration: Int) -> [LanguageTokens]? {
        guard !languages.isEmpty else { return nil }
        let counted = zip(languages, samples).map { LanguageTokens(language: $0, tokens: Int($1) * job.model.sequenceLength) }
        let sum = counted.reduce(0) { $0 + $1.tokens }
        if sum != expected {
            let message = "accounting interval \(sequence) (iterations \(firstIteration)-\(iteration)): the languages' tokens add up to \(sum), not \(expected); its split among languages follows the counted tokens"
            warn(message)
            event("language-count-mismatch", message: message)
        }
        return counted
    }

    /// Rank 0: stores a validation in the ledger (for `atelier report`).
    func record(iteration: Int, validation: [ValidationResult]) {
        guard let writer, let record else { return }
        writer.submit(.validation(jobID: record.id, iteration: iteration,
                                  results: validation.map { ValidationRecord(dataset: $0.name, loss: $0.loss, bitsPerByte: $0.bitsPerByte) },
                                  at: Date().timeIntervalSince1970))
    }

    /// Rank 0: records how the launch ended (`ending`: by default what `status` implies) and writes
    /// what is still buffered (or spills it).
    func end(_ status: JobStatus, reason: String, ending: LaunchEnding? = nil) {
        csvQueue.sync {}
        guard let writer, let record else { return }
        writer.submit(.launchEnded(jobID: record.id, segment: segment, ending: ending ?? LaunchEnding(status: status), reason: reason,
                                   at: Date().timeIntervalSince1970))
        writer.submit(.end(jobID: record.id, status: status, reason: reason, at: Date().timeIntervalSince1970))
        writer.close()
    }

    /// Rank 0: an event in the job's ledger record.
    func event(_ kind: String, message: String) {
        guard let writer, let record else { return }
        writer.submit(.event(jobID: record.id, kind: kind, message: message, at: Date().timeIntervalSince1970))
    }

    /// Another rank's record of how the job ended, when rank 0 cannot write it (it has stopped
    /// answering): written straight to the ledger, under the id the run directory keeps.
    func recordWithoutRankZero(event kind: String, status: JobStatus, ending: LaunchEnding, reason: String) {
        guard let (id, launch) = Self.recordedLaunch(runDirectory: job.runDirectory) else {
            warn("cannot record the failure in the ledger: \(job.runDirectory)/ledger-id is missing")
            return
        }
        let now = Date().timeIntervalSince1970
        do {
            let ledger = try Ledger(path: job.accounting.ledger)
            try ledger.apply(.event(jobID: id, kind: kind, message: reason, at: now))
            try ledger.apply(.launchEnded(jobID: id, segment: launch, ending: ending, reason: reason, at: now))
            try ledger.apply(.end(jobID: id, status: status, reason: reason, at: now))
        } catch {
            warn("cannot record the failure in the ledger: \(error)")
        }
    }

    /// A line for the log: this launch's totals so far.
    var summary: String {
        let t = launchTotals
        return String(format: "accounting (this launch): %.3g model FLOPs, %.3f device-hours, %.4f kWh, %.5f kgCO2eq operational + %.5f embodied",
                      t.modelFlops, t.deviceSeconds / 3600, t.energyKWh, t.emissionsKg, t.embodiedKg)
    }
}
