import ArgumentParser
import AtelierAccounting
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
        """)

    @Argument(help: "The job file (omit with --device-hours).") var job: String?
    @Option(help: "The cluster profile.") var profile = "cluster/local.toml"
    @Option(help: "Device-hours (GPU- or core-hours) instead of a job.") var deviceHours: Double?
    @Option(help: "Model FLOPs utilisation to assume, from 0 to 1.") var mfu: Double?
    @Option(help: "An `atelier bench --json` output whose MFU to assume.") var mfuFrom: String?
    @Option(name: .customLong("set"), parsing: .singleValue, help: "Override a job field (repeatable).") var overrides: [String] = []
    @Flag(help: "JSON output.") var json = false

    func run() throws {
        do {
            let profile = try ClusterProfile.load(path: self.profile)
            let estimate: Estimate
            if let deviceHours {
                guard job == nil else { throw CLIError("give a job file or --device-hours, not both") }
                guard deviceHours.isFinite, deviceHours > 0 else { throw CLIError("--device-hours \(deviceHours): expected a positive number") }
                estimate = Estimate(deviceHours: deviceHours, profile: profile)
            } else {
                guard let job else { throw CLIError("give a job file, or --device-hours") }
                let loaded = try Job.load(path: job, overrides: overrides)
                let mfu = try chosenMFU(profile)
                let peak: Double
                if let p = profile.node.devicePeakFLOPs {
                    peak = p
                } else {
                    BLASRuntime.setThreads(1)
                    peak = SgemmPeak.measure()
                }
                estimate = Estimate(job: loaded, profile: profile, mfu: mfu, devicePeakFLOPs: peak)
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(data: try encoder.encode(estimate), encoding: .utf8)!)
            } else {
                print(estimate.text, terminator: "")
            }
        } catch {
            FileHandle.standardError.write(Data("atelier: error: \(error)\n".utf8))
            throw ExitCode(ExitStatus.badInput.rawValue)
        }
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
