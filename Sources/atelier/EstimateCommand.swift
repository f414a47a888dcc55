import ArgumentParser
import AtelierAccounting
import AtelierDistributed
import AtelierJob
import AtelierTrain
import BLAS
import Foundation

struct EstimateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "estimate",
        abstract: "What a job will cost before it starts: FLOPs, device-hours, energy, CO2eq.",
        discussion: """
        From a job file: FLOPs for its token budget (6N + 12LhT per token), device-hours at an MFU
        (--mfu, or the MFU in an `atelier bench --json` output given with --mfu-from, or the profile's
        expected_mfu), then the ledger's chain for energy and emissions. With --device-hours instead
        of a job, the chain from there: on cluster/jean-zay.toml, 1082990 device-hours reproduce the
        BLOOM paper. See docs/accounting.md.

        Calibration: the finished jobs of the site's ledger (the job's accounting.ledger, or
        --ledger) that recorded an estimate at their first launch give the ratio of what they used
        to what was estimated (median and range; the job's working group's own when it has at
        least 3 such jobs); the estimate is given again with those ratios applied. With no such
        history, it says so and applies nothing.

        With a job, also the memory each rank needs (parameters, gradients, Adam moments, activations
        of one micro-batch, the other buffers the trainer allocates, the runtime), for --ranks ranks,
        and what this machine has available; `atelier train` refuses a job its node cannot hold.
        See docs/cli.md.
        """)

    @Argument(help: "The job file (omit with --device-hours).") var job: String?
    @Option(help: "The cluster profile.") var profile = "cluster/local.toml"
    @Option(help: "Device-hours (GPU- or core-hours) instead of a job.") var deviceHours: Double?
    @Option(help: "Model FLOPs utilisation to assume, from 0 to 1.") var mfu: Double?
    @Option(help: "An `atelier bench --json` output whose MFU to assume.") var mfuFrom: String?
    @Option(name: .customLong("set"), parsing: .singleValue, help: "Override a job field (repeatable).") var overrides: [String] = []
    @Option(help: "Ranks the job will run on (the memory per rank depends on it).") var ranks = 1
    @Option(help: "The ledger whose finished jobs calibrate the estimate (default: the job's accounting.ledger): an SQLite file or postgresql://user@host:port/db.")
    var ledger: String?
    @Flag(help: "JSON output.") var json = false

    func run() throws {
        do {
            let profile = try ClusterProfile.load(path: self.profile)
            let estimate: Estimate
            var memory: MemoryEstimate?
            var history: (ledger: String?, group: String?) = (ledger, nil)   // what calibrates it
            if let deviceHours {
                guard job == nil else { throw CLIError("give a job file or --device-hours, not both") }
                guard deviceHours.isFinite, deviceHours > 0 else { throw CLIError("--device-hours \(deviceHours): expected a positive number") }
                estimate = Estimate(deviceHours: deviceHours, profile: profile)
            } else {
                guard let job else { throw CLIError("give a job file, or --device-hours") }
                let loaded = try Job.load(path: job, overrides: overrides)
                history = (ledger ?? loaded.accounting.ledger, loaded.workingGroup)
                guard ranks >= 1, ranks <= 1 << 20 else { throw CLIError("--ranks \(ranks): expected an integer from 1 to 1048576") }
                // BLAS threads as `atelier train` would set them with all the ranks on this machine.
                let threads = loaded.distributed.blasThreads ?? NodeTopology.blasThreads(cores: ProcessInfo.processInfo.activeProcessorCount, ranksOnNode: ranks)
                memory = try MemoryEstimate(job: loaded, worldSize: ranks, blasThreads: threads)
                let mfu = try chosenMFU(profile)
                let peak = Estimate.devicePeak(profile) {
                    BLASRuntime.setThreads(1)
                    return SgemmPeak.measure()
                }
                estimate = Estimate(job: loaded, profile: profile, mfu: mfu, devicePeakFLOPs: peak)
            }
            let calibrated = Self.calibrate(estimate, ledger: history.ledger, group: history.group)
            let available = NodeMemory.current()
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                let output = JobEstimate(cost: estimate, memory: memory, availableBytes: available?.availableBytes, calibrated: calibrated)
                print(String(decoding: try encoder.encode(output), as: UTF8.self))
            } else {
                print(estimate.text + calibrated.text, terminator: "")
                if let memory { print(memory.text + Self.fit(memory, available), terminator: "") }
            }
        } catch {
            FileHandle.standardError.write(Data("atelier: error: \(error)\n".utf8))
            throw ExitCode(ExitStatus.badInput.rawValue)
        }
    }

    /// The estimate with the measured ratios of the ledger's finished jobs applied. The ledger is
    /// read as it is (not created, not migrated); one that cannot be read is said, and nothing applied.
    static func calibrate(_ estimate: Estimate, ledger: String?, group: String?) -> CalibratedEstimate {
        guard let ledger else { return CalibratedEstimate(unavailable: "no ledger (give --ledger, or a job file)", ledger: "") }
        do {
            if case .sqlite(let path) = try LedgerLocation(ledger), !FileManager.default.fileExists(atPath: path) {
                return CalibratedEstimate(unavailable: "no history: ledger \(ledger) does not exist yet", ledger: ledger)
            }
            let history = try Ledger(path: ledger, readingOnly: true).estimateOutcomes()
            return CalibratedEstimate(estimate, history: history, group: group, ledger: ledger)
        } catch {
            FileHandle.standardError.write(Data("atelier: warning: \(error)\n".utf8))
            return CalibratedEstimate(unavailable: "the ledger cannot be read (\(error))", ledger: ledger)
        }
    }

    /// How the estimate compares with what this machine has available now.
    static func fit(_ memory: MemoryEstimate, _ available: NodeMemory?) -> String {
        guard let available else { return "this machine: available memory unknown (no /proc/meminfo)\n" }
        let f = MemoryEstimate.format
        // Rank 0 holds the checkpoint snapshot besides its share.
        let fitting = available.availableBytes >= memory.rankZero
            ? 1 + (available.availableBytes - memory.rankZero) / max(memory.perRank, 1) : 0
        return "this machine: \(f(available.availableBytes)) available (\(available.source)): room for \(fitting) rank\(fitting == 1 ? "" : "s") of this job\n"
    }

    func chosenMFU(_ profile: ClusterProfile) throws -> Double {
        if let mfu {
            guard mfu > 0, mfu <= 1 else { throw CLIError("--mfu \(mfu): expected a number in (0, 1]") }
            return mfu
        }
        if let mfuFrom {
            guard let data = FileManager.default.contents(atPath: mfuFrom),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let value = object["mfu"] as? Double, value > 0, value <= 1 else {
                throw CLIError("--mfu-from \(mfuFrom): expected the JSON of `atelier bench --json`, with an \"mfu\" in (0, 1]")
            }
            return value
        }
        if let expected = profile.expectedMFU { return expected }
        throw CLIError("\(profile.path): no expected_mfu; pass --mfu or --mfu-from (an `atelier bench --json` output)")
    }
}

/// `estimate --json`: the cost's fields at the top level (as before), the memory under "memory".
struct JobEstimate: Encodable {
    let cost: Estimate
    let memory: MemoryEstimate?
    let availableBytes: Int?
    let calibrated: CalibratedEstimate

    enum CodingKeys: String, CodingKey { case memory, availableBytes = "available_bytes_on_this_machine", calibrated = "calibration" }

    func encode(to encoder: Encoder) throws {
        try cost.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(memory, forKey: .memory)
        if memory != nil { try c.encodeIfPresent(availableBytes, forKey: .availableBytes) }
        try c.encode(calibrated, forKey: .calibrated)
    }
}
