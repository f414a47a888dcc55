/// Seconds of an accounting interval in which the job trained nothing, by cause, as rank 0's
/// clock measured them (docs/accounting.md, "Lost work by cause"). The rest of the interval is
/// useful training, unless the whole interval was redone after a restart (`lost`).
public struct IntervalOverheads: Codable, Sendable, Equatable {
    public var checkpointSeconds = 0.0    // training blocked by a checkpoint save (the snapshot; all of a streamed save)
    public var evaluationSeconds = 0.0    // validation
    public var startupSeconds = 0.0       // from the launch's first interval start to its first step
    public var skippedSeconds = 0.0       // iterations whose update was skipped (non-finite loss or gradient)

    public init() {}

    public init(checkpointSeconds: Double, evaluationSeconds: Double, startupSeconds: Double, skippedSeconds: Double) {
        (self.checkpointSeconds, self.evaluationSeconds) = (checkpointSeconds, evaluationSeconds)
        (self.startupSeconds, self.skippedSeconds) = (startupSeconds, skippedSeconds)
    }

    /// The ledger's interval columns (migration v7), in the order of `values` and `causes`.
    public static let columns = ["checkpoint_s", "evaluation_s", "startup_s", "skipped_s"]
    public static let causes: [WorkCause] = [.checkpoint, .evaluation, .startup, .skipped]

    public var values: [Double] { [checkpointSeconds, evaluationSeconds, startupSeconds, skippedSeconds] }

    public init(values v: [Double]) {
        (checkpointSeconds, evaluationSeconds, startupSeconds, skippedSeconds) = (v[0], v[1], v[2], v[3])
    }

    public static func + (a: IntervalOverheads, b: IntervalOverheads) -> IntervalOverheads {
        IntervalOverheads(values: zip(a.values, b.values).map { $0 + $1 })
    }
}
