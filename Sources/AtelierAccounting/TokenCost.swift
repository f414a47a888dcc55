/// What one trained token cost (docs/accounting.md), the figure training now optimises for:
///
///     J/token                 = energy kWh x 3.6e6 / tokens
///     gCO2eq per million tok. = kgCO2eq x 1e3 x 1e6 / tokens     (operational; and with embodied)
public struct TokenCost: Sendable, Equatable, Codable {
    public var joulesPerToken: Double
    public var operationalGramsPerMillionTokens: Double
    public var totalGramsPerMillionTokens: Double          // operational + embodied

    enum CodingKeys: String, CodingKey {
        case joulesPerToken = "joules_per_token", operationalGramsPerMillionTokens = "operational_gco2eq_per_million_tokens"
        case totalGramsPerMillionTokens = "total_gco2eq_per_million_tokens"
    }

    /// nil without tokens (nothing was trained: there is no cost per token).
    public init?(tokens: Double, energyKWh: Double, operationalKg: Double, embodiedKg: Double) {
        guard tokens > 0 else { return nil }
        joulesPerToken = energyKWh * 3.6e6 / tokens
        operationalGramsPerMillionTokens = operationalKg * 1e9 / tokens
        totalGramsPerMillionTokens = (operationalKg + embodiedKg) * 1e9 / tokens
    }

    /// "12.3 J/token, 0.45 gCO2eq per million tokens operational, 0.61 with embodied"
    public var text: String {
        func g(_ x: Double) -> String { String(format: "%.4g", x) }
        return "\(g(joulesPerToken)) J/token; \(g(operationalGramsPerMillionTokens)) gCO2eq per million tokens operational, \(g(totalGramsPerMillionTokens)) with embodied"
    }
}
