/// How one launch of a job ended, kept per launch (the job's row keeps only the latest): what
/// its work lost to the restart that followed is counted under (docs/accounting.md).
public enum LaunchEnding: String, Codable, Sendable, CaseIterable {
    case killed      // no record: killed, out of memory, a lost node (found when the next launch begins)
    case stall       // a collective timed out (the watchdog named the ranks that did not arrive)
    case failure     // an error ended it
    case signal      // SIGTERM or SIGINT: saved and stopped
    case finished

    /// The ending a launch's status implies; a stall says so itself.
    public init(status: JobStatus) {
        switch status {
        case .finished, .running: self = .finished
        case .stopped: self = .signal
        case .failed: self = .failure
        }
    }
}
