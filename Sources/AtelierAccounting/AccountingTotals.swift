/// The cumulative compute and carbon figures of a run (docs/accounting.md), carried by every
/// checkpoint as named numbers (`named`, under /state/accounting) so that a resumed job goes on
/// counting from there and its ledger record agrees with the checkpoint it resumed from.
public struct AccountingTotals: Equatable, Sendable, Codable {
    public var modelFlops = 0.0        // 6N + 12LhT per trained token
    public var hardwareFlops = 0.0     // what the hardware ran (the same here: nothing is recomputed)
    public var deviceSeconds = 0.0     // accounting devices (GPUs, or CPU cores) x seconds
    public var nodeSeconds = 0.0       // server time, in whole-node units
    public var cpuKWh = 0.0            // IT energy at the plug, by part
    public var gpuKWh = 0.0
    public var ramKWh = 0.0
    public var staticKWh = 0.0         // the nodes' static (idle) power
    public var energyKWh = 0.0         // facility energy: IT energy x PUE
    public var emissionsKg = 0.0       // operational: energyKWh x grid intensity
    public var embodiedKg = 0.0        // hardware manufacture, amortised per device- and server-hour

    public init() {}

    public var itKWh: Double { cpuKWh + gpuKWh + ramKWh + staticKWh }

    /// The fields' names, in the order of `values`: the ledger's interval columns and the names a
    /// checkpoint stores them under.
    public static let fieldNames = ["model_flops", "hardware_flops", "device_seconds", "node_seconds", "cpu_kwh", "gpu_kwh",
                                    "ram_kwh", "static_kwh", "energy_kwh", "emissions_kg", "embodied_kg"]

    public var values: [Double] {
        [modelFlops, hardwareFlops, deviceSeconds, nodeSeconds, cpuKWh, gpuKWh, ramKWh, staticKWh, energyKWh, emissionsKg, embodiedKg]
    }

    /// Totals from `fieldNames`-ordered values, each finite and non-negative; nil otherwise
    /// (`firstInvalid` names the field).
    public init?(values v: [Double]) {
        guard v.count == Self.fieldNames.count, Self.firstInvalid(v) == nil else { return nil }
        self.init(unchecked: v)
    }

    /// Totals from `fieldNames`-ordered values as they are (the ledger's rows, checked when they were written).
    public init(unchecked v: [Double]) {
        (modelFlops, hardwareFlops, deviceSeconds, nodeSeconds, cpuKWh, gpuKWh) = (v[0], v[1], v[2], v[3], v[4], v[5])
        (ramKWh, staticKWh, energyKWh, emissionsKg, embodiedKg) = (v[6], v[7], v[8], v[9], v[10])
    }

    /// The first field whose value is not a finite, non-negative number, with that value.
    public static func firstInvalid(_ values: [Double]) -> (field: String, value: Double)? {
        zip(fieldNames, values).first { !($0.1.isFinite && $0.1 >= 0) }.map { ($0.0, $0.1) }
    }

    /// Field by field. Inputs are checked where they come in (an accounting interval, a checkpoint),
    /// so nothing is dropped here.
    public static func + (a: AccountingTotals, b: AccountingTotals) -> AccountingTotals {
        AccountingTotals(unchecked: zip(a.values, b.values).map { $0 + $1 })
    }

    public static func += (a: inout AccountingTotals, b: AccountingTotals) { a = a + b }

    /// The totals from named values (as a checkpoint carries them): by name, or in `fieldNames`
    /// order when there are no names (a checkpoint written before names were stored); zero when
    /// there are no values. Throws `Unreadable` naming the field that is missing, not finite or negative.
    public init(names: [String], values: [Double]) throws {
        guard !values.isEmpty else { self.init(); return }
        let ordered: [Double]
        if names.isEmpty {
            guard values.count == Self.fieldNames.count else {
                throw Unreadable(reason: "\(values.count) unnamed values, expected \(Self.fieldNames.count)")
            }
            ordered = values
        } else {
            ordered = try Self.fieldNames.map { name in
                guard let i = names.firstIndex(of: name), i < values.count else { throw Unreadable(reason: "no value named \(name)") }
                return values[i]
            }
        }
        if let (field, value) = Self.firstInvalid(ordered) { throw Unreadable(reason: "\(field) is \(value), not a finite non-negative number") }
        self.init(unchecked: ordered)
    }

    /// Stored totals that cannot be read back.
    public struct Unreadable: Error, CustomStringConvertible {
        public let reason: String
        public var description: String { reason }
    }
}
