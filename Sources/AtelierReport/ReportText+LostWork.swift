import AtelierAccounting
import Foundation

extension Report {
    /// Per job and working group: useful training and each cause of lost work that occurred, in
    /// device-hours, kWh and kgCO2eq with their share of the device-hours, then the total (which
    /// the rows add up to exactly, in device-µs, µWh and µg) with the goodput.
    var lostWorkTable: (header: [String], rows: [[String]]) {
        func rows(_ name: String, _ w: WorkBreakdown) -> [[String]] {
            let total = w.total
            func row(_ label: String, _ u: WorkUnits) -> [String] {
                [name, label, Self.f(u.deviceHours, 4), Self.f(u.energyKWh, 4), Self.f(u.totalKg, 4), Self.share(u, of: w)]
            }
            return WorkCause.allCases.filter { $0 == .useful || w[$0] != WorkUnits() }.map { row($0.label, w[$0]) }
                + [row("total, goodput \(Self.share(w[.useful], of: w))", total)]
        }
        return (["job or group", "work", "device-h", "kWh", "kgCO2eq", "share"],
                jobs.flatMap { rows($0.name, $0.work) } + groups.flatMap { rows("group " + $0.name, $0.work) })
    }

    /// A part's share of the device-time of `w`, as a percentage ("63.8%"); "-" without any.
    static func share(_ part: WorkUnits, of w: WorkBreakdown) -> String {
        let total = w.total.deviceMicroseconds
        return total > 0 ? String(format: "%.1f%%", 100 * Double(part.deviceMicroseconds) / Double(total)) : "-"
    }
}
