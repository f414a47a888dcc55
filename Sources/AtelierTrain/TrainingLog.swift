import AtelierAccounting
import AtelierCheckpoint
import AtelierJob
import Foundation

/// Figures for one logged iteration: printed as one Megatron-style line on rank 0 and written as one
/// JSON object per line to metrics.jsonl in the run directory.
public struct LoggedIteration: Codable, Sendable {
    public let iteration: Int
    public let iterations: Int
    public let consumed_samples: Int
    public let consumed_tokens: Int
    public let ms_per_iteration: Double
    public let lr: Double
    public let loss: Double
    public let grad_norm: Double
    public let skipped_iterations: Int
    public let tokens_per_s: Double
    public let tflops_per_rank: Double
    public let mfu: Double
    public let eta_s: Double

    public var line: String {
        func f(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }
        let width = String(iterations).count
        let it = String(repeating: " ", count: max(0, width - String(iteration).count)) + String(iteration)
        return " iteration \(it)/\(iterations) | consumed samples: \(consumed_samples) | consumed tokens: \(consumed_tokens)"
            + " | ms/iter: \(f(ms_per_iteration, 1)) | lr: \(String(format: "%.3E", lr)) | loss: \(String(format: "%.4E", loss))"
            + " | grad norm: \(f(grad_norm, 3)) | skipped: \(skipped_iterations) | tokens/s: \(f(tokens_per_s, 0))"
            + " | TFLOP/s/rank: \(f(tflops_per_rank, 3)) | MFU: \(f(100 * mfu, 1))% | ETA: \(Self.clock(eta_s))"
    }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return String(format: "%02d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60)
    }
}

/// Averages step results over a log interval and turns them into `LoggedIteration`s.
public struct IntervalMeter {
    let job: Job
    let worldSize: Int
    let peakFlopsPerRank: Double
    private var seconds = 0.0, lossSum = 0.0, finiteSteps = 0, steps = 0

    public init(job: Job, worldSize: Int, peakFlopsPerRank: Double) {
        self.job = job
        self.worldSize = worldSize
        self.peakFlopsPerRank = peakFlopsPerRank
    }

    public mutating func add(_ r: StepResult) {
        seconds += r.seconds
        steps += 1
        if r.loss.isFinite { lossSum += r.loss; finiteSteps += 1 }
    }

    /// The interval's figures, then starts a new interval.
    public mutating func flush(last r: StepResult, progress: TrainingCounters) -> LoggedIteration {
        let perIteration = seconds / Double(max(steps, 1))
        let tokensPerIteration = Double(job.batch.globalBatchSize * job.model.sequenceLength)
        let tokensPerSecond = tokensPerIteration / perIteration
        let flopsPerRank = job.model.flopsPerToken * tokensPerSecond / Double(worldSize)
        let entry = LoggedIteration(
            iteration: r.iteration, iterations: job.train.iterations,
            consumed_samples: progress.consumedSamples,
            consumed_tokens: progress.consumedTokens,
            ms_per_iteration: perIteration * 1000, lr: r.lr,
            loss: finiteSteps > 0 ? lossSum / Double(finiteSteps) : .nan,
            grad_norm: r.gradNorm, skipped_iterations: progress.skippedIterations,
            tokens_per_s: tokensPerSecond, tflops_per_rank: flopsPerRank / 1e12,
            mfu: peakFlopsPerRank > 0 ? flopsPerRank / peakFlopsPerRank : 0,
            eta_s: perIteration * Double(job.train.iterations - r.iteration))
        seconds = 0; lossSum = 0; finiteSteps = 0; steps = 0
        return entry
    }
}

/// Appends one JSON object per line; each line is written with a single write call.
public final class MetricsFile {
    let handle: FileHandle
    let encoder: JSONEncoder

    /// Opens `path` for appending. With `keepingThrough`, first drops the records of iterations
    /// after it (logged after the checkpoint a resumed run starts from); otherwise starts empty.
    public init(path: String, keepingThrough iteration: Int? = nil) throws {
        var kept = Data()
        if let iteration, let old = FileManager.default.contents(atPath: path) {
            for line in old.split(separator: 0x0A) {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                      let i = object["iteration"] as? Int, i <= iteration else { continue }
                kept.append(contentsOf: line)
                kept.append(0x0A)
            }
        }
        // Data.write and FileHandle(forWritingTo:) throw what really went wrong (no such
        // directory, a full disk, permissions), which the user needs to fix it.
        try kept.write(to: URL(fileURLWithPath: path))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        self.handle = handle
        try handle.seekToEnd()
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    }

    /// A validation record: {"iteration": N, "validation": {"fr": {"loss", "bits_per_byte", "tokens"}, ...}}.
    public func append(iteration: Int, validation: [ValidationResult]) throws {
        var object: [String: Any] = ["iteration": iteration]
        object["validation"] = Dictionary(uniqueKeysWithValues: validation.map { v in
            var figures: [String: Any] = ["tokens": v.tokens]
            for (key, value) in v.figures { figures[key] = Self.number(value) }
            return (v.name, figures)
        })
        try append(object)
    }

    /// The run's cumulative energy and emissions when an accounting interval closes:
    /// {"iteration": N, "accounting": {"energy_kwh", "emissions_kg", "embodied_kg"}} (kWh, kgCO2eq),
    /// as the checkpoint saved at N carries them.
    public func append(iteration: Int, accounting totals: AccountingTotals) throws {
        var figures: [String: Any] = [:]
        for (key, value) in totals.logged { figures[key] = Self.number(value) }
        try append(["iteration": iteration, "accounting": figures])
    }

    private func append(_ object: [String: Any]) throws {
        var data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        data.append(0x0A)
        try handle.write(contentsOf: data)
    }

    /// A JSON number, or for a non-finite value the string the iteration records use ("nan",
    /// "inf", "-inf"): never a made-up 0.
    static func number(_ x: Double) -> Any {
        x.isFinite ? x : (x.isNaN ? "nan" : (x > 0 ? "inf" : "-inf"))
    }

    public func append(_ entry: LoggedIteration) throws {
        var data = try encoder.encode(entry)
        data.append(0x0A)
        try handle.write(contentsOf: data)
    }

    deinit { try? handle.close() }
}
