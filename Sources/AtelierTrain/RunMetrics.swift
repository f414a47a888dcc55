import AtelierAccounting
import Foundation

/// Rank 0's record of a run's figures: each goes to metrics.jsonl and, as the same values, to
/// TensorBoard's events (RUN_DIR/tensorboard/). A failure to write metrics.jsonl stops the run; a
/// failure to write TensorBoard's events is a warning (`TensorBoardLog`).
final class RunMetrics {
    let file: MetricsFile
    let tensorBoard: TensorBoardLog

    /// Resumed at `iteration` (nil: a new run), both keep what was logged up to it and drop the rest.
    init(runDirectory: String, resumedAt iteration: Int?, say: (String) -> Void, warn: @escaping @Sendable (String) -> Void) throws {
        file = try MetricsFile(path: runDirectory + "/metrics.jsonl", keepingThrough: iteration)
        tensorBoard = TensorBoardLog(directory: runDirectory + "/tensorboard", keepingThrough: iteration, say: say, warn: warn)
    }

    func append(_ entry: LoggedIteration) throws {
        try file.append(entry)
        tensorBoard.write(step: entry.iteration, entry.plotted.map { ("train/" + $0.key, $0.value) })
    }

    func append(iteration: Int, validation: [ValidationResult]) throws {
        try file.append(iteration: iteration, validation: validation)
        tensorBoard.write(step: iteration, validation.flatMap { v in v.figures.map { ("validation/\($0.key)/\(v.name)", $0.value) } })
    }

    /// The run's cumulative energy and emissions when an accounting interval closes.
    func append(iteration: Int, accounting totals: AccountingTotals) throws {
        try file.append(iteration: iteration, accounting: totals)
        tensorBoard.write(step: iteration, totals.logged.map { ("accounting/" + $0.key, $0.value) })
    }
}

// The figures each record holds, under their metrics.jsonl keys: one list for both outputs.

extension LoggedIteration {
    /// The figures TensorBoard plots; metrics.jsonl holds these and more.
    var plotted: KeyValuePairs<String, Double> {
        ["loss": loss, "lr": lr, "grad_norm": grad_norm, "tokens_per_s": tokens_per_s, "mfu": mfu]
    }
}

extension ValidationResult {
    var figures: KeyValuePairs<String, Double> { ["loss": loss, "bits_per_byte": bitsPerByte] }
}

extension AccountingTotals {
    /// Cumulative over the run: facility kWh, operational and embodied kgCO2eq.
    var logged: KeyValuePairs<String, Double> { ["energy_kwh": energyKWh, "emissions_kg": emissionsKg, "embodied_kg": embodiedKg] }
}
