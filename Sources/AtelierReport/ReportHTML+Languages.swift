import AtelierAccounting
import Foundation

extension Report {
    /// The HTML sections of cost per token, water and languages: tables, and a chart per job of
    /// each language's kgCO2eq (operational and embodied) with its share of the tokens. Inline
    /// SVG only: no script, nothing fetched.
    var costsHTML: String {
        let table = Self.tableHTML
        var page = "<h2>Cost per token and water</h2>"
        page += "<p>Joules and gCO2eq per trained token kept (work lost to restarts included in the cost); water where the profile knows it (off-site: energy x grid.water_l_per_kwh; on-site: IT energy x site.wue).</p>"
        page += table(costTable)
        guard let languages = languageTable else { return page }
        page += "<h2>Per language</h2>"
        page += "<p>Each accounting interval's energy and emissions are split among the languages by their share of its tokens; the rows add up to the job's total exactly (in µWh and µg).</p>"
        for j in costs.jobs where !j.languages.isEmpty { page += "<h3>\(Self.escapeHTML(j.name)) (\(Self.escapeHTML(j.workingGroup)))</h3>" + languageBars(j) }
        page += table(languages)
        if let gains = gainTable { page += "<h2>Validation bits per byte gained per kWh, per language</h2>" + table(gains) }
        return page
    }

    /// One bar per language: operational then embodied kgCO2eq, labelled with kWh, share of
    /// tokens and J/token.
    func languageBars(_ job: JobCost) -> String {
        let totals = job.languages.map { $0.figures.operationalKg + $0.figures.embodiedKg }
        guard let top = totals.max(), top > 0 else { return "<p>No emissions recorded.</p>" }
        // (the names at 13 px, about 8 px a character; the figures after the longest bar at 12 px)
        let rowHeight = 26, width = 420, labelWidth = 16 + 8 * (job.languages.map(\.language.count).max() ?? 2), figures = 480
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(labelWidth + width + figures)\" height=\"\(job.languages.count * rowHeight + 34)\">"
        for (i, l) in job.languages.enumerated() {
            let f = l.figures, y = 5 + i * rowHeight
            let op = Int((Double(width) * f.operationalKg / top).rounded()), emb = Int((Double(width) * f.embodiedKg / top).rounded())
            let share = job.figures.tokens > 0 ? 100 * Double(f.tokens) / Double(job.figures.tokens) : 0
            svg += "<text x=\"5\" y=\"\(y + 17)\" font-size=\"13\">\(Self.escapeHTML(l.language))</text>"
            svg += "<rect x=\"\(labelWidth)\" y=\"\(y + 3)\" width=\"\(max(op, 1))\" height=\"18\" fill=\"\(Self.palette[0])\"/>"
            svg += "<rect x=\"\(labelWidth + max(op, 1))\" y=\"\(y + 3)\" width=\"\(emb)\" height=\"18\" fill=\"\(Self.palette[1])\"/>"
            let cost = f.perToken.map { String(format: ", %.4g J/token", $0.joulesPerToken) } ?? ""
            svg += "<text x=\"\(labelWidth + max(op, 1) + emb + 5)\" y=\"\(y + 17)\" font-size=\"12\">"
                + String(format: "%.4g kgCO2eq, %.4g kWh, %.1f%% of tokens", totals[i], f.energyKWh, share) + cost + "</text>"
        }
        let legend = 5 + job.languages.count * rowHeight + 14
        svg += "<rect x=\"\(labelWidth)\" y=\"\(legend - 10)\" width=\"12\" height=\"12\" fill=\"\(Self.palette[0])\"/>"
        svg += "<text x=\"\(labelWidth + 16)\" y=\"\(legend)\" font-size=\"12\">operational</text>"
        svg += "<rect x=\"\(labelWidth + 110)\" y=\"\(legend - 10)\" width=\"12\" height=\"12\" fill=\"\(Self.palette[1])\"/>"
        svg += "<text x=\"\(labelWidth + 126)\" y=\"\(legend)\" font-size=\"12\">embodied</text>"
        return svg + "</svg>"
    }
}
