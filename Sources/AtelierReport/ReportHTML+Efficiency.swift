import AtelierAccounting
import Foundation

extension Report {
    /// The sections "Estimate against actual" and "Lost work by cause": tables, and per job a bar
    /// of its device-hours split by cause. Inline HTML and CSS only: no script, nothing fetched.
    var efficiencyHTML: String {
        let table = Self.tableHTML
        var page = "<h2>Estimate against actual</h2>"
        if let estimates = estimateTable {
            page += "<p>What each job's first launch estimated from its job file at the profile's expected MFU (<code>atelier estimate</code>), against what it used (work lost to restarts included); ratio = actual / estimate. A group's figures are the sums over its jobs with an estimate.</p>"
            page += table(estimates)
        } else {
            page += "<p>No estimate recorded: jobs record one at their first launch when the cluster profile has an <code>expected_mfu</code>.</p>"
        }
        page += "<h2>Lost work by cause</h2>"
        page += "<p>Each accounting interval's device-hours, energy and emissions split by its measured seconds per cause (the rest useful training); an interval redone after a restart goes whole to what ended its launch. The parts add up to the total exactly (in device-µs, µWh and µg).</p>"
        page += "<div class=\"work-legend\">" + WorkCause.allCases.enumerated().map { i, c in
            "<span><i style=\"background:\(Self.workColours[i])\"></i>\(Self.escapeHTML(c.label))</span>"
        }.joined() + "</div>"
        for j in jobs { page += workBar(j.name + " (" + j.workingGroup + ")", j.work) }
        for g in groups { page += workBar("group " + g.name, g.work) }
        page += table(lostWorkTable)
        return page
    }

    /// One colour per cause, in `WorkCause.allCases` order: useful green, restarts reds, the rest.
    static let workColours = ["#59a14f", "#e15759", "#ff9da7", "#b5253a", "#f28e2b", "#9c755f", "#4e79a7", "#76b7b2", "#edc948", "#bab0ac"]

    /// A bar of the device-hours by cause, with the goodput.
    func workBar(_ name: String, _ w: WorkBreakdown) -> String {
        let total = w.total.deviceMicroseconds
        guard total > 0 else { return "<p>\(Self.escapeHTML(name)): no device time recorded.</p>" }
        var bar = "<div class=\"work\"><span class=\"work-name\">\(Self.escapeHTML(name))</span><span class=\"work-bar\">"
        for (i, cause) in WorkCause.allCases.enumerated() where w[cause].deviceMicroseconds > 0 {
            let share = 100 * Double(w[cause].deviceMicroseconds) / Double(total)
            bar += "<i style=\"width:\(String(format: "%.3f", share))%;background:\(Self.workColours[i])\" title=\"\(Self.escapeHTML(cause.label)): \(String(format: "%.1f", share))%\"></i>"
        }
        return bar + "</span> goodput \(Self.share(w[.useful], of: w)), \(Self.f(w.total.deviceHours, 4)) device-h</div>"
    }

    static let efficiencyCSS = """
    .work { display: flex; align-items: center; margin: 0.3em 0; font-size: 0.9em; gap: 0.7em; }
    .work-name { width: 16em; } .work-bar { display: flex; width: 420px; height: 18px; background: #eee; }
    .work-bar i, .work-legend i { display: inline-block; height: 100%; }
    .work-legend { font-size: 0.85em; margin: 0.5em 0; } .work-legend span { margin-right: 1em; white-space: nowrap; }
    .work-legend i { width: 12px; height: 12px; margin-right: 4px; vertical-align: middle; }
    """
}
