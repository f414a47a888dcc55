/// Power where no meter is readable, after CodeCarbon 3.0's models (docs/accounting.md).
public enum PowerModel {
    /// CPU power from utilisation: TDP x load, never below 10% of TDP (CodeCarbon's CPU-load mode).
    /// `load` is the job's CPU time over (wall time x the node's cores), from 0 to 1; a job on a
    /// `share` of the node's devices pays that share of the floor.
    public static func cpuWatts(tdp: Double, load: Double, share: Double = 1) -> Double {
        max(tdp * min(max(load, 0), 1), 0.1 * tdp * share)
    }

    /// RAM power from its size: CodeCarbon 3.0 guesses the DIMM count from the size and counts
    /// 5 W per DIMM, the marginal power falling to 90%, 80% and 70% past 4, 8 and 16 DIMMs.
    public static func ramWatts(gigabytes: Double) -> Double {
        let perDIMM = 5.0
        let dimms = dimmCount(gigabytes: gigabytes)
        let power: Double
        switch dimms {
        case ...4: power = perDIMM * Double(dimms)
        case ...8: power = perDIMM * (4 + 0.9 * Double(dimms - 4))
        case ...16: power = perDIMM * (4 + 0.9 * 4 + 0.8 * Double(dimms - 8))
        default: power = perDIMM * (4 + 0.9 * 4 + 0.8 * 8 + 0.7 * Double(dimms - 16))
        }
        return max(2 * perDIMM, power)
    }

    /// CodeCarbon 3.0's guess of how many DIMMs hold `gigabytes` of RAM.
    static func dimmCount(gigabytes g: Double) -> Int {
        if g <= 2 { return 1 }
        if g <= 16 { return 2 }
        if g <= 32 { return 4 }
        if g <= 64 { return 4 }
        if g <= 128 { return 8 }
        for size in [128.0, 64, 32, 16, 8, 4] where size <= g / 8 {
            return min(32, Int((g / size).rounded(.up)))
        }
        return 8
    }
}
