import AtelierAccounting
import Foundation

/// What `atelier report --lineage PATH` prints (docs/accounting.md, "Lineage"): the tree of a
/// model and the models it started from, the model's own cost and the cumulative cost. Unknown
/// figures are printed as "unknown", never as 0, and a sum that leaves one out says so.
public struct LineageReport: Codable, Sendable {
    public var path: String
    public var model: Lineage
    public var own: Footprint?
    public var cumulative: CumulativeFootprint

    public init(path: String, model: Lineage) {
        (self.path, self.model, self.own, self.cumulative) = (path, model, model.footprint, model.cumulative)
    }

    /// A figure for people: 6 significant digits, or "unknown".
    static func figure(_ x: Double?) -> String { x.map { String(format: "%.6g", $0) } ?? "unknown" }
    static func tokens(_ x: Int?) -> String { x.map { "\($0)" } ?? "unknown" }

    /// One line of figures: tokens, device-hours, kWh, kgCO2eq operational + embodied = total.
    static func line(_ f: Footprint?) -> String {
        guard let f else { return "unknown" }
        return "\(tokens(f.tokens)) tokens, \(figure(f.deviceHours)) device-h, \(figure(f.energyKWh)) kWh, "
            + "\(figure(f.operationalKg)) kgCO2eq operational + \(figure(f.embodiedKg)) embodied = \(figure(f.totalKg)) kgCO2eq"
    }

    /// Who trained a node, and where; or where its recorded figure comes from; or that it is unknown.
    static func describe(_ node: Lineage) -> String {
        var parts: [String] = []
        if let id = node.jobID { parts.append("job \(id)") }
        if let group = node.workingGroup { parts.append("working group \(group)") }
        if let site = node.site { parts.append("site \(site)" + (node.location.map { " (\($0))" } ?? "")) }
        if let source = node.source { parts.append("recorded figure, source: \(source)") }
        if node.footprint == nil { parts.append("footprint unknown: a model from elsewhere") }
        return parts.joined(separator: ", ")
    }

    /// What a cumulative sum leaves out, as a clause; empty when nothing.
    static func exclusions(_ c: CumulativeFootprint) -> String {
        let names = Array(Set(c.excluded.values.flatMap { $0 })).sorted()
        guard !names.isEmpty else { return "" }
        let fields = c.excluded.keys.sorted().joined(separator: ", ")
        return "excludes the unknown \(fields) of \(names.joined(separator: ", "))"
    }

    public var text: String {
        var out = "Lineage of \(path)\n\n"
        func walk(_ node: Lineage, _ prefix: String, _ isLast: Bool, _ isRoot: Bool) {
            let branch = isRoot ? "" : (isLast ? "└─ " : "├─ ")
            out += prefix + branch + node.name + "  (" + Self.describe(node) + ")\n"
            let inner = prefix + (isRoot ? "" : (isLast ? "   " : "│  "))
            out += inner + (node.ancestors.isEmpty ? "   " : "│  ") + "own: " + Self.line(node.footprint) + "\n"
            for (i, ancestor) in node.ancestors.enumerated() { walk(ancestor, inner, i == node.ancestors.count - 1, false) }
        }
        walk(model, "", true, true)
        out += "\nown:        " + Self.line(own) + "\n"
        out += "cumulative: " + Self.line(cumulative.footprint) + "\n"
        let excluded = Self.exclusions(cumulative)
        if !excluded.isEmpty { out += "            (" + excluded + ")\n" }
        out += "\nOwn = the model's checkpoint totals: the work its weights contain (work lost to restarts is in the ledger, not here).\n"
        return out
    }

    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self) + "\n"   // finite figures only
    }
}
