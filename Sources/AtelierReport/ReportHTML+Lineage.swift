import AtelierAccounting
import Foundation

extension Report {
    /// The lineage section of the HTML report: the model's own cost beside the cumulative cost,
    /// then the tree of the models it started from, each with its own figures. Inline styles, no
    /// script; unknown figures read "unknown", never 0.
    static func lineageSection(_ r: LineageReport) -> String {
        let esc = escapeHTML
        let fig = LineageReport.figure
        func cells(_ f: Footprint?) -> [String] {
            [f.map { LineageReport.tokens($0.tokens) } ?? "unknown", fig(f?.deviceHours), fig(f?.energyKWh), fig(f?.operationalKg),
             fig(f?.embodiedKg), fig(f?.totalKg)]
        }
        let header = ["", "tokens", "device-h", "kWh", "kgCO2eq op", "kgCO2eq emb", "kgCO2eq total"]
        var html = "<h2>Lineage of \(esc(r.model.name))</h2><p>From <code>\(esc(r.path))</code>. "
            + "Own: the model's checkpoint totals (the work its weights contain). Cumulative: own plus every ancestor's.</p>"
        html += "<table><tr>" + header.map { "<th>\(esc($0))</th>" }.joined() + "</tr>"
        for (label, f) in [("own", r.own), ("cumulative", Optional(r.cumulative.footprint))] {
            html += "<tr><td>\(label)</td>" + cells(f).map { "<td>\(esc($0))</td>" }.joined() + "</tr>"
        }
        html += "</table>"
        let excluded = LineageReport.exclusions(r.cumulative)
        if !excluded.isEmpty { html += "<p class=\"warn\">The cumulative cost \(esc(excluded)).</p>" }
        func node(_ n: Lineage) -> String {
            let unknown = n.footprint == nil
            let border = unknown ? "#c33" : (n.source != nil ? "#e90" : "#4e79a7")   // unknown, recorded, measured
            var out = "<li style=\"list-style: none; margin: 0.6em 0; padding: 0.4em 0.8em; border-left: 4px solid \(border);\">"
            out += "<b>\(esc(n.name))</b> <span style=\"color: #666\">\(esc(LineageReport.describe(n)))</span><br>"
            out += unknown ? "<span class=\"warn\">own footprint: unknown</span>"
                : "own: " + zip(header.dropFirst(), cells(n.footprint)).map { "\(esc($1)) \(esc($0))" }.joined(separator: ", ")
            if let hardware = n.hardware { out += "<br><span style=\"color: #666\">on \(esc(hardware))</span>" }
            if !n.ancestors.isEmpty {
                out += "<ul style=\"padding-left: 1.5em;\">" + n.ancestors.map(node).joined() + "</ul>"
            }
            return out + "</li>"
        }
        return html + "<h3>Tree (each model above the models it started from)</h3><ul style=\"padding-left: 0;\">" + node(r.model) + "</ul>"
    }
}
