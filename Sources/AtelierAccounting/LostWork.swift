/// What a job's consumption went to: useful training, or one of the causes of lost work
/// (docs/accounting.md, "Lost work by cause").
public enum WorkCause: String, Codable, Sendable, CaseIterable {
    case useful
    // Work redone after a restart, by what ended the launch that did it first.
    case restartKilled = "restart_killed", restartStall = "restart_stall", restartFailure = "restart_failure"
    case restartSignal = "restart_signal", restartOther = "restart_other"
    // Time training was blocked, in the intervals that were kept.
    case checkpoint, evaluation, startup, skipped

    /// Redone work, by how its launch ended; `other`: a finished launch, or an ending not recorded
    /// (ledgers written before v7).
    public static func restart(after ending: LaunchEnding?) -> WorkCause {
        switch ending {
        case .killed: return .restartKilled
        case .stall: return .restartStall
        case .failure: return .restartFailure
        case .signal: return .restartSignal
        case .finished, nil: return .restartOther
        }
    }

    public var label: String {
        switch self {
        case .useful: return "useful training"
        case .restartKilled: return "redone after a restart: launch killed (no record)"
        case .restartStall: return "redone after a restart: stall"
        case .restartFailure: return "redone after a restart: failure"
        case .restartSignal: return "redone after a restart: signal"
        case .restartOther: return "redone after a restart: other or not recorded"
        case .checkpoint: return "blocked by checkpoint saves"
        case .evaluation: return "evaluation"
        case .startup: return "start-up until the first step"
        case .skipped: return "skipped iterations (non-finite)"
        }
    }
}

/// Device time, energy and emissions in integer units, so that parts add up exactly in any
/// order: device-µs (1e-6 device-seconds), µWh (1e-9 kWh), µg (1e-9 kg).
public struct WorkUnits: Codable, Sendable, Equatable {
    public var deviceMicroseconds: Int64 = 0
    public var energyMicroWh: Int64 = 0
    public var operationalMicrograms: Int64 = 0
    public var embodiedMicrograms: Int64 = 0

    public init() {}
    public init(deviceMicroseconds: Int64, energyMicroWh: Int64, operationalMicrograms: Int64, embodiedMicrograms: Int64) {
        (self.deviceMicroseconds, self.energyMicroWh) = (deviceMicroseconds, energyMicroWh)
        (self.operationalMicrograms, self.embodiedMicrograms) = (operationalMicrograms, embodiedMicrograms)
    }

    public var deviceHours: Double { Double(deviceMicroseconds) / LostWork.perDeviceSecond / 3600 }
    public var energyKWh: Double { Double(energyMicroWh) / LanguageAttribution.perKWh }
    public var totalMicrograms: Int64 { operationalMicrograms + embodiedMicrograms }
    public var totalKg: Double { Double(totalMicrograms) / LanguageAttribution.perKg }

    public static func + (a: WorkUnits, b: WorkUnits) -> WorkUnits {
        WorkUnits(deviceMicroseconds: a.deviceMicroseconds + b.deviceMicroseconds, energyMicroWh: a.energyMicroWh + b.energyMicroWh,
                  operationalMicrograms: a.operationalMicrograms + b.operationalMicrograms,
                  embodiedMicrograms: a.embodiedMicrograms + b.embodiedMicrograms)
    }

    enum CodingKeys: String, CodingKey {
        case deviceMicroseconds = "device_us", energyMicroWh = "energy_uwh", operationalMicrograms = "operational_ug"
        case embodiedMicrograms = "embodied_ug", deviceHours = "device_hours", energyKWh = "energy_kwh", totalKg = "total_kgco2eq"
    }

    /// The exact units and their readable values.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(deviceMicroseconds, forKey: .deviceMicroseconds); try c.encode(energyMicroWh, forKey: .energyMicroWh)
        try c.encode(operationalMicrograms, forKey: .operationalMicrograms); try c.encode(embodiedMicrograms, forKey: .embodiedMicrograms)
        try c.encode(deviceHours, forKey: .deviceHours); try c.encode(energyKWh, forKey: .energyKWh); try c.encode(totalKg, forKey: .totalKg)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        deviceMicroseconds = try c.decode(Int64.self, forKey: .deviceMicroseconds); energyMicroWh = try c.decode(Int64.self, forKey: .energyMicroWh)
        operationalMicrograms = try c.decode(Int64.self, forKey: .operationalMicrograms)
        embodiedMicrograms = try c.decode(Int64.self, forKey: .embodiedMicrograms)
    }
}

/// A job's or a group's consumption split into useful training and each cause of lost work;
/// the parts add up to `total` exactly.
public struct WorkBreakdown: Codable, Sendable, Equatable {
    public var parts: [WorkCause: WorkUnits] = [:]

    public init() {}

    public subscript(_ cause: WorkCause) -> WorkUnits { parts[cause] ?? WorkUnits() }

    public var total: WorkUnits { WorkCause.allCases.reduce(WorkUnits()) { $0 + self[$1] } }

    /// Useful over total device time; nil without any.
    public var goodput: Double? {
        let all = total.deviceMicroseconds
        return all > 0 ? Double(self[.useful].deviceMicroseconds) / Double(all) : nil
    }

    public mutating func add(_ split: [WorkCause: WorkUnits]) {
        for (cause, units) in split { parts[cause] = self[cause] + units }
    }

    public static func + (a: WorkBreakdown, b: WorkBreakdown) -> WorkBreakdown {
        var sum = a
        sum.add(b.parts)
        return sum
    }

    enum Keys: String, CodingKey { case parts, total, goodput }

    /// Every cause by name (zero when none), the total, and the goodput.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(Dictionary(uniqueKeysWithValues: WorkCause.allCases.map { ($0.rawValue, self[$0]) }), forKey: .parts)
        try c.encode(total, forKey: .total)
        try c.encode(goodput, forKey: .goodput)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        let named = try c.decode([String: WorkUnits].self, forKey: .parts)
        for (name, units) in named { if let cause = WorkCause(rawValue: name) { parts[cause] = units } }
    }
}

/// Splits each interval's device time, energy and emissions among useful training and the
/// causes of lost work, by the interval's own ratios: a lost interval goes whole to the restart
/// cause of its launch's ending; a kept one is split by its measured seconds per cause, the rest
/// of its duration useful. Each figure is rounded once to its unit and split by largest remainder
/// (`LanguageAttribution.split`), so the parts add up to the interval exactly.
public enum LostWork {
    public static let perDeviceSecond = 1e6     // device-µs per device-second

    /// Causes in the order the weights go to `LanguageAttribution.split`.
    static let keptCauses: [WorkCause] = [.useful] + IntervalOverheads.causes

    /// nil when a figure does not fit in the units (a meter gone wrong by orders of magnitude).
    public static func split(_ record: IntervalRecord, lost: Bool, ending: LaunchEnding?) -> [WorkCause: WorkUnits]? {
        guard let device = LanguageAttribution.units(record.totals.deviceSeconds, per: perDeviceSecond),
              let u = LanguageAttribution.intervalUnits(record.totals, water: nil) else { return nil }
        let whole = WorkUnits(deviceMicroseconds: device, energyMicroWh: u.energy, operationalMicrograms: u.operational, embodiedMicrograms: u.embodied)
        if lost { return [.restart(after: ending): whole] }
        let weights = keptWeights(duration: record.end - record.start, overheads: record.overheads ?? IntervalOverheads())
        let parts = [whole.deviceMicroseconds, whole.energyMicroWh, whole.operationalMicrograms, whole.embodiedMicrograms]
            .map { LanguageAttribution.split($0, by: weights) }
        var out: [WorkCause: WorkUnits] = [:]
        for (i, cause) in keptCauses.enumerated() {
            out[cause] = WorkUnits(deviceMicroseconds: parts[0][i], energyMicroWh: parts[1][i], operationalMicrograms: parts[2][i],
                                   embodiedMicrograms: parts[3][i])
        }
        return out
    }

    /// [useful, checkpoint, evaluation, start-up, skipped] in µs of the interval: the causes as
    /// measured, useful the rest of the duration (none if the causes fill it: then they share it
    /// in proportion). Never all zero.
    static func keptWeights(duration: Double, overheads: IntervalOverheads) -> [Int] {
        func micros(_ s: Double) -> Int { s.isFinite && s > 0 ? Int((min(s, 1e9) * 1e6).rounded()) : 0 }
        let causes = overheads.values.map(micros)
        let useful = max(0, micros(duration) - causes.reduce(0, +))
        let weights = [useful] + causes
        return weights.contains { $0 > 0 } ? weights : [1, 0, 0, 0, 0]
    }
}
