import Foundation

extension Report {
    /// One self-contained page (inline CSS and SVG, no script, nothing fetched): the tables,
    /// emissions per working group, cumulative emissions over time, and loss curves per job.
    public var html: String {
        let (esc, tableHTML) = (Self.escapeHTML, Self.tableHTML)
        let formatter = ISO8601DateFormatter()
        var page = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>atelier report</title>
        <style>
        body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
        table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
        th, td { border-bottom: 1px solid #ddd; padding: 0.3em 0.7em; text-align: right; }
        th:first-child, td:first-child { text-align: left; }
        h2 { margin-top: 1.5em; } svg { background: #fafafa; border: 1px solid #eee; }
        .warn { color: #a40; }
        \(Self.efficiencyCSS)
        </style></head><body>
        <h1>Compute and carbon report</h1>
        <p>Ledger <code>\(esc(ledger))</code>, generated \(formatter.string(from: generated)) (figures to 4 significant digits below 1).
        Total: \(Self.f(total.deviceHours)) device-hours, \(Self.f(total.energyKWh)) kWh,
        \(Self.f(total.operationalKg)) kgCO2eq operational + \(Self.f(total.embodiedKg)) embodied = <b>\(Self.f(total.totalKg)) kgCO2eq</b>.</p>
        """
        page += warnings.map { "<p class=\"warn\">warning: \(esc($0))</p>" }.joined()
        if let lineage { page += Self.lineageSection(lineage) }
        page += "<h2>Working groups</h2>" + tableHTML(groupTable)
        page += "<h2>Emissions per working group (kgCO2eq, operational + embodied)</h2>" + bars(groups.map { ($0.name, $0.usage.totalKg) })
        page += "<h2>Cumulative emissions (kgCO2eq)</h2>"
            + lines([("all jobs", cumulativeEmissions.map { ($0.time.timeIntervalSince1970, $0.cumulativeKg) })], xIsTime: true)
        page += "<h2>Training loss per job</h2>"
            + lines(jobs.filter { !$0.loss.isEmpty }.map { ("\($0.name) (\($0.workingGroup))", $0.loss.map { (Double($0.iteration), $0.loss) }) }, xIsTime: false)
        page += "<h2>Jobs</h2>" + tableHTML(jobTable)
        if let v = validationTable { page += "<h2>Validation per language (newest)</h2>" + tableHTML(v) }
        page += costsHTML
        page += efficiencyHTML
        return page + "</body></html>\n"
    }

    static let palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]

    func bars(_ values: [(String, Double)]) -> String {
        guard let top = values.map(\.1).max(), top > 0 else { return "<p>No emissions recorded.</p>" }
        let rowHeight = 26, width = 640, labelWidth = 200
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width + 80)\" height=\"\(values.count * rowHeight + 10)\">"
        for (i, (name, value)) in values.enumerated() {
            let y = 5 + i * rowHeight
            let w = Int(Double(width - labelWidth) * value / top)
            svg += "<text x=\"5\" y=\"\(y + 17)\" font-size=\"13\">\(name.replacingOccurrences(of: "<", with: "&lt;"))</text>"
            svg += "<rect x=\"\(labelWidth)\" y=\"\(y + 3)\" width=\"\(max(w, 1))\" height=\"18\" fill=\"\(Self.palette[i % Self.palette.count])\"/>"
            svg += "<text x=\"\(labelWidth + w + 5)\" y=\"\(y + 17)\" font-size=\"12\">\(String(format: "%.4g", value))</text>"
        }
        return svg + "</svg>"
    }

    func lines(_ series: [(String, [(Double, Double)])], xIsTime: Bool) -> String {
        let points = series.flatMap(\.1)
        guard points.count >= 1, let x0 = points.map(\.0).min(), let x1 = points.map(\.0).max(),
              let y0 = points.map(\.1).min(), let y1 = points.map(\.1).max() else { return "<p>No data.</p>" }
        let (w, h, left, bottom) = (640.0, 260.0, 60.0, 30.0)
        let yLow = xIsTime ? 0 : y0, ySpan = max(y1 - yLow, 1e-12), xSpan = max(x1 - x0, 1e-9)
        func px(_ x: Double) -> Double { left + (x - x0) / xSpan * (w - left - 10) }
        func py(_ y: Double) -> Double { h - bottom - (y - yLow) / ySpan * (h - bottom - 10) }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w) + 220)\" height=\"\(Int(h))\">"
        svg += "<line x1=\"\(left)\" y1=\"\(h - bottom)\" x2=\"\(w - 10)\" y2=\"\(h - bottom)\" stroke=\"#999\"/>"
        svg += "<line x1=\"\(left)\" y1=\"10\" x2=\"\(left)\" y2=\"\(h - bottom)\" stroke=\"#999\"/>"
        for (value, y) in [(yLow, py(yLow)), (y1, py(y1))] {
            svg += "<text x=\"5\" y=\"\(y + 4)\" font-size=\"11\">\(String(format: "%.3g", value))</text>"
        }
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd HH:mm"
        formatter.timeZone = TimeZone(identifier: "UTC")
        for x in [x0, x1] {
            let label = xIsTime ? formatter.string(from: Date(timeIntervalSince1970: x)) + " UTC" : "iteration \(Int(x))"
            svg += "<text x=\"\(px(x) - (x == x1 ? 90 : 0))\" y=\"\(h - 10)\" font-size=\"11\">\(label)</text>"
        }
        for (i, (name, pts)) in series.enumerated() {
            let color = Self.palette[i % Self.palette.count]
            let path = pts.sorted { $0.0 < $1.0 }.map { String(format: "%.1f,%.1f", px($0.0), py($0.1)) }.joined(separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(path)\"/>"
            if pts.count == 1 { svg += "<circle cx=\"\(px(pts[0].0))\" cy=\"\(py(pts[0].1))\" r=\"3\" fill=\"\(color)\"/>" }
            svg += "<text x=\"\(w)\" y=\"\(20 + 16 * i)\" font-size=\"12\" fill=\"\(color)\">\(name.replacingOccurrences(of: "<", with: "&lt;"))</text>"
        }
        return svg + "</svg>"
    }

    /// A table of escaped cells: a header row, then the rows.
    static func tableHTML(_ t: (header: [String], rows: [[String]])) -> String {
        "<table><tr>" + t.header.map { "<th>\(escapeHTML($0))</th>" }.joined() + "</tr>"
            + t.rows.map { "<tr>" + $0.map { "<td>\(escapeHTML($0))</td>" }.joined() + "</tr>" }.joined() + "</table>"
    }

    static func escapeHTML(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
