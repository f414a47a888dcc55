import Dispatch

/// Where one training step's time went on this rank, in seconds: contiguous phases that add up to
/// the step's time (`StepResult.seconds`). Forward, loss and backward are summed over the step's
/// micro-batches; `gradientWait` is what was left of the gradients' sums after backward (the part
/// overlap did not hide), `norm` the step's one all-reduce of the loss, norm and flags.
public struct StepPhases: Sendable, Equatable {
    public enum Phase: String, CaseIterable, Sendable {
        case data, zeroGradients = "zero_gradients", forward, loss, backward, gradientWait = "gradient_wait",
             norm, optimizer, parameterGather = "parameter_gather"
    }

    public private(set) var seconds = [Double](repeating: 0, count: Phase.allCases.count)   // by Phase.allCases order

    public init() {}

    public subscript(_ phase: Phase) -> Double { seconds[Phase.allCases.firstIndex(of: phase)!] }

    /// The step's time: the sum of its phases.
    public var total: Double { seconds.reduce(0, +) }

    mutating func add(_ s: Double, to phase: Phase) { seconds[Phase.allCases.firstIndex(of: phase)!] += s }
}

/// Charges the time since its last mark to a phase: marks one after another, so the phases cover
/// the step without gaps or overlaps.
struct PhaseClock {
    private var last = DispatchTime.now().uptimeNanoseconds
    private(set) var phases = StepPhases()

    mutating func charge(_ phase: StepPhases.Phase) {
        let now = DispatchTime.now().uptimeNanoseconds
        phases.add(Double(now - last) / 1e9, to: phase)
        last = now
    }
}
