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
                let share = total.deviceMicroseconds > 0 ? String(format: "%.1f%%", 100 * Double(u.deviceMicroseconds) / Double(total.deviceMicroseconds)) : "-"
                return [name, label, Self.f(u.deviceHours, 4), Self.f(u.energyKWh, 4), Self.f(u.totalKg, 4), share]
            }
            return WorkCause.allCases.filter { $0 == .useful || w[$0] != WorkUnits() }.map { row($0.label, w[$0]) }
                + [row("total, goodput \(w.goodput.map { String(format: "%.1f%%", 100 * $0) } ?? "-")", total)]
        }
        return (["job or group", "work", "device-h", "kWh", "kgCO2eq", "share"],
                jobs.flatMap { rows($0.name, $0.work) } + groups.flatMap { rows("group " + $0.name, $0.work) })
    }
}
