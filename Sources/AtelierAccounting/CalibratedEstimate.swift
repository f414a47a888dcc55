import Foundation

/// An estimate with the ratios of a calibration applied (`atelier estimate`, text and JSON).
public struct CalibratedEstimate: Encodable, Sendable {
    public var ledger: String
    public var calibration: Calibration?
    public var note: String                   // what was applied, or why nothing was
    public var median: Consumption?
    public var low: Consumption?
    public var high: Consumption?

    enum CodingKeys: String, CodingKey { case ledger, calibration = "ratios", note, median, low, high }

    /// `history` from `ledger`; `group`: the job's working group, if any.
    public init(_ estimate: Estimate, history: [EstimateOutcome], group: String?, ledger: String) {
        self.ledger = ledger
        guard let c = Calibration(history: history, group: group) else {
            note = "no finished job in \(ledger) has an estimate to compare with: no calibration applied"
            return
        }
        calibration = c
        let applied = c.applied(to: Consumption(estimate))
        (median, low, high) = (applied.median, applied.low, applied.high)
        let whose = c.scope == "site" ? "on this site" : "of \(c.scope)"
        let at = estimate.mfu.map { " at \(String(format: "%.0f", 100 * $0))% MFU" } ?? ""
        note = "\(Self.n(estimate.deviceHours)) device-hours\(at); \(c.jobs) finished job\(c.jobs == 1 ? "" : "s") \(whose) took \(Self.range(c.deviceHours)) their estimates, so \(Self.n(applied.low.deviceHours))-\(Self.n(applied.high.deviceHours)) device-hours (median \(Self.n(applied.median.deviceHours)))"
    }

    /// Without a ledger to read.
    public init(unavailable reason: String, ledger: String) {
        self.ledger = ledger
        note = reason + ": no calibration applied"
    }

    public var text: String {
        guard let c = calibration, let median, let low, let high else { return "calibration: \(note)\n" }
        return """
        calibration: \(note)
        calibrated energy: \(Self.range(c.energyKWh)), so \(Self.n(low.energyKWh))-\(Self.n(high.energyKWh)) kWh (median \(Self.n(median.energyKWh)))
        calibrated emissions: \(Self.range(c.totalKg)), so \(Self.n(low.totalKg))-\(Self.n(high.totalKg)) kgCO2eq (median \(Self.n(median.totalKg)))

        """
    }

    static func n(_ x: Double) -> String { String(format: x >= 100 ? "%.0f" : x >= 1 ? "%.1f" : "%.3g", x) }
    static func range(_ r: RatioSpread) -> String { String(format: "%.2f-%.2fx (median %.2fx)", r.low, r.high, r.median) }
}
