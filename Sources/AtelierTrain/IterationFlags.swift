import Foundation

/// What the ranks decide together at the end of every iteration, carried in the step's one
/// collective (summed: a flag is set when any rank set it).
struct IterationFlags {
    var stop = false             // a rank received SIGTERM/SIGINT: save and stop
    var saveTimeDue = false      // checkpoint.interval_minutes has passed (rank 0's clock decides)
    var accountingDue = false    // an accounting interval has ended

    init(stop: Bool, saveTimeDue: Bool, accountingDue: Bool) {
        (self.stop, self.saveTimeDue, self.accountingDue) = (stop, saveTimeDue, accountingDue)
    }

    var values: [Double] { [stop, saveTimeDue, accountingDue].map { $0 ? 1 : 0 } }

    /// From the values summed over the ranks.
    init(summed v: [Double]) {
        precondition(v.count == 3, "the step returned \(v.count) flags")
        (stop, saveTimeDue, accountingDue) = (v[0] > 0, v[1] > 0, v[2] > 0)
    }
}

/// checkpoint.interval_minutes, on the rank whose clock decides (rank 0): due once that long has
/// passed since the last save.
struct SaveClock {
    let minutes: Double
    let decides: Bool
    private var last = DispatchTime.now().uptimeNanoseconds

    init(minutes: Double, decides: Bool) { (self.minutes, self.decides) = (minutes, decides) }

    var isDue: Bool {
        decides && minutes > 0 && Double(DispatchTime.now().uptimeNanoseconds - last) / 60e9 >= minutes
    }

    mutating func restart() { last = DispatchTime.now().uptimeNanoseconds }
}
