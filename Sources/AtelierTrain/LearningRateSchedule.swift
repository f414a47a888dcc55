import AtelierJob
#if canImport(Glibc)
import Glibc
#endif

/// Megatron's schedule, counted in samples: linear warmup from 0 to `lr` over `warmupSamples`, then
/// cosine decay to `minLR` at `decaySamples`, constant after. The rate for an iteration is taken
/// at the samples consumed once that iteration's batch is done, so the first step already moves.
public struct LearningRateSchedule: Sendable {
    public let maxLR: Double, minLR: Double
    public let warmupSamples: Int, decaySamples: Int

    public init(optimizer: OptimizerSettings, schedule: ScheduleSettings) {
        maxLR = optimizer.lr
        minLR = optimizer.minLR
        warmupSamples = schedule.warmupSamples
        decaySamples = schedule.decaySamples
    }

    public func lr(consumedSamples s: Int) -> Double {
        if warmupSamples > 0 && s <= warmupSamples { return maxLR * Double(s) / Double(warmupSamples) }
        if s >= decaySamples { return minLR }
        let ratio = Double(s - warmupSamples) / Double(decaySamples - warmupSamples)
        return minLR + 0.5 * (cos(Double.pi * ratio) + 1) * (maxLR - minLR)
    }
}
