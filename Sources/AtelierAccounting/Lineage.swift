import Foundation

/// What a model cost, ancestors included (docs/accounting.md, "Lineage"): a tree whose root is the
/// model and whose children are the models it started from (`model.init_from`), each with its own
/// ancestors in turn. A node's `footprint` is its own training only; `cumulative` adds the tree.
/// A model from elsewhere has no footprint (`nil`): it is shown as unknown, never as zero, and
/// sums say they exclude it. `atelier lineage add` records a published figure for one, with its
/// `source`.
public struct Lineage: Codable, Equatable, Sendable {
    public var name: String             // the job's name, or the directory of a model from elsewhere
    public var jobID: String?           // the ledger's id of the job (RUN_DIR/ledger-id)
    public var workingGroup: String?
    public var site: String?            // the cluster profile's site
    public var location: String?        // the grid's country, when the profile names one
    public var hardware: String?        // what the device-hours count, e.g. "CPU cores (AMD EPYC 7B13)"
    public var measurement: String?     // how energy and emissions were measured: meter, PUE, grid intensity
    public var mixture: [MixtureShare]? // what it was trained on: datasets (languages) and their shares of the samples
    public var footprint: Footprint?    // this model's own training; nil: unknown
    public var source: String?          // where a recorded (not measured) footprint comes from
    public var ancestors: [Lineage]

    public init(name: String, jobID: String? = nil, workingGroup: String? = nil, site: String? = nil, location: String? = nil,
                hardware: String? = nil, measurement: String? = nil, mixture: [MixtureShare]? = nil, footprint: Footprint? = nil,
                source: String? = nil, ancestors: [Lineage] = []) {
        (self.name, self.jobID, self.workingGroup, self.site, self.location) = (name, jobID, workingGroup, site, location)
        (self.hardware, self.measurement, self.mixture) = (hardware, measurement, mixture)
        (self.footprint, self.source, self.ancestors) = (footprint, source, ancestors)
    }

    /// A model from elsewhere with nothing known about its training.
    public static func unknown(_ name: String) -> Lineage { Lineage(name: name) }

    enum CodingKeys: String, CodingKey {
        case name, jobID = "job_id", workingGroup = "working_group", site, location, hardware, measurement, mixture, footprint, source, ancestors
    }

    /// Every node, the model first, then each ancestor's subtree in order (depth first): the order
    /// `cumulative` adds them in.
    public var nodes: [Lineage] { [self] + ancestors.flatMap(\.nodes) }

    /// The model's own footprint plus all its ancestors'.
    public var cumulative: CumulativeFootprint { CumulativeFootprint(nodes) }
}

/// One dataset of a training mixture and its share of the samples (the shares sum to 1).
public struct MixtureShare: Codable, Equatable, Sendable {
    public var name: String
    public var share: Double
    public init(name: String, share: Double) { (self.name, self.share) = (name, share) }
}

/// One model's own training: tokens, device-hours, facility energy, operational and embodied
/// emissions. A field is nil when it is not known (a published figure may give only some).
public struct Footprint: Codable, Equatable, Sendable {
    public var tokens: Int?
    public var deviceHours: Double?
    public var energyKWh: Double?       // facility energy (IT energy x PUE), kWh
    public var operationalKg: Double?   // kgCO2eq: energy x grid intensity
    public var embodiedKg: Double?      // kgCO2eq: hardware manufacture, amortised

    public init(tokens: Int? = nil, deviceHours: Double? = nil, energyKWh: Double? = nil, operationalKg: Double? = nil,
                embodiedKg: Double? = nil) {
        (self.tokens, self.deviceHours, self.energyKWh, self.operationalKg, self.embodiedKg) = (tokens, deviceHours, energyKWh, operationalKg, embodiedKg)
    }

    /// A checkpoint's totals (counted work up to that checkpoint) and the tokens it was trained on.
    public init(totals t: AccountingTotals, tokens: Int) {
        self.init(tokens: tokens, deviceHours: t.deviceSeconds / 3600, energyKWh: t.energyKWh, operationalKg: t.emissionsKg,
                  embodiedKg: t.embodiedKg)
    }

    /// Operational plus embodied, when both are known.
    public var totalKg: Double? { operationalKg.flatMap { o in embodiedKg.map { o + $0 } } }

    enum CodingKeys: String, CodingKey {
        case tokens, deviceHours = "device_hours", energyKWh = "energy_kwh", operationalKg = "operational_kgco2eq"
        case embodiedKg = "embodied_kgco2eq"
    }

    /// The fields by their JSON names, as numbers: what is checked and summed field by field.
    var fields: [(name: String, value: Double?)] {
        [("tokens", tokens.map(Double.init)), ("device_hours", deviceHours), ("energy_kwh", energyKWh),
         ("operational_kgco2eq", operationalKg), ("embodied_kgco2eq", embodiedKg)]
    }
}

/// The sum of a lineage's footprints, field by field, in `Lineage.nodes` order. A field is nil
/// when no model of the tree knows it; `excluded` names, per field, the models whose figure is
/// unknown and so not in the sum (a sum that leaves one out says so).
public struct CumulativeFootprint: Codable, Equatable, Sendable {
    public var footprint: Footprint
    public var excluded: [String: [String]]   // field -> the models whose value is unknown

    init(_ nodes: [Lineage]) {
        var sums = [Double?](repeating: nil, count: 5)
        var excluded: [String: [String]] = [:]
        for node in nodes {
            let fields = (node.footprint ?? Footprint()).fields
            for (i, field) in fields.enumerated() {
                if let value = field.value { sums[i] = (sums[i] ?? 0) + value } else { excluded[field.name, default: []].append(node.name) }
            }
        }
        footprint = Footprint(tokens: sums[0].map { Int($0) }, deviceHours: sums[1], energyKWh: sums[2], operationalKg: sums[3],
                              embodiedKg: sums[4])
        self.excluded = excluded
    }

    /// Whether every model of the tree knows every figure.
    public var isComplete: Bool { excluded.isEmpty }
}
