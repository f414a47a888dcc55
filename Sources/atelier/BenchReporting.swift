import Foundation

/// What every `atelier bench` mode reports: a JSON object (`--json`) or text for people.
protocol BenchOutput: Encodable {
    var text: String { get }
}

extension BenchReport: BenchOutput {}
extension CheckpointBench.Report: BenchOutput {}
extension OverlapBench.Report: BenchOutput {}
extension GenerateBench.Report: BenchOutput {}

/// The median of `xs` (0 when empty): benchmarks report medians, which a noisy machine's
/// outliers do not move.
func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? 0 : s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// Peak resident set of this process, in bytes (getrusage reports KiB on Linux).
func peakRSSBytes() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) * 1024
}
