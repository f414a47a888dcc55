/// Water consumed by a piece of work, where the profile knows it (docs/accounting.md):
///
///     off-site litres = energy x grid.water_l_per_kwh     (all facility energy is drawn from the grid)
///     on-site litres  = IT energy x site.wue              (the site's cooling; WUE is per kWh of IT energy)
///
/// A part the profile does not give is nil, "not known", never zero.
public struct WaterUse: Sendable, Equatable, Codable {
    public var offsiteLitres: Double?
    public var onsiteLitres: Double?

    public init(offsiteLitres: Double?, onsiteLitres: Double?) {
        (self.offsiteLitres, self.onsiteLitres) = (offsiteLitres, onsiteLitres)
    }

    /// The water of `totals` (energy and IT energy in kWh) with `profile`'s figures.
    public init(_ totals: AccountingTotals, profile: ClusterProfile) {
        offsiteLitres = profile.waterLitresPerKWh.map { totals.energyKWh * $0 }
        onsiteLitres = profile.wue.map { totals.itKWh * $0 }
    }

    /// The known parts' sum; nil when neither is known.
    public var litres: Double? {
        switch (offsiteLitres, onsiteLitres) {
        case (nil, nil): return nil
        case let (a, b): return (a ?? 0) + (b ?? 0)
        }
    }

    /// What `litres` includes, for a reader.
    public var includes: String {
        switch (offsiteLitres != nil, onsiteLitres != nil) {
        case (true, true): return "off-site and on-site"
        case (true, false): return "off-site only (site.wue not known)"
        case (false, true): return "on-site only (grid.water_l_per_kwh not known)"
        case (false, false): return "not known (the profile gives neither grid.water_l_per_kwh nor site.wue)"
        }
    }

    /// Nothing yet: both parts known and zero, the start of a sum.
    public static let zero = WaterUse(offsiteLitres: 0, onsiteLitres: 0)

    /// Part by part; a part is known in a sum only if it is known in both terms (an interval whose
    /// water is not known makes its job's water not known, rather than too small).
    public static func + (a: WaterUse, b: WaterUse) -> WaterUse {
        func add(_ x: Double?, _ y: Double?) -> Double? { x.flatMap { x in y.map { x + $0 } } }
        return WaterUse(offsiteLitres: add(a.offsiteLitres, b.offsiteLitres), onsiteLitres: add(a.onsiteLitres, b.onsiteLitres))
    }

    enum CodingKeys: String, CodingKey {
        case offsiteLitres = "offsite_litres", onsiteLitres = "onsite_litres", litres, includes
    }

    /// Unknown parts are written as null, not left out: a reader sees that they are not known.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(offsiteLitres, forKey: .offsiteLitres)
        try c.encode(onsiteLitres, forKey: .onsiteLitres)
        try c.encode(litres, forKey: .litres)
        try c.encode(includes, forKey: .includes)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        offsiteLitres = try c.decodeIfPresent(Double.self, forKey: .offsiteLitres)
        onsiteLitres = try c.decodeIfPresent(Double.self, forKey: .onsiteLitres)
    }
}
