import Foundation
import TensorBoard
#if canImport(Glibc)
import Glibc
#endif

/// Rank 0's TensorBoard events for a run (docs/cli.md): one events file per launch in
/// RUN_DIR/tensorboard/, its step the iteration, its values the float32 of what metrics.jsonl
/// holds. Each record is written as it comes (one write call, nothing buffered), so a killed
/// launch keeps its curves up to its last log line.
///
/// A resumed launch first cuts the earlier launches' files back to the iteration it resumed from
/// (their later steps and a torn last record go: `EventFileTrim`), as metrics.jsonl is, and starts
/// its own file with a SessionLog START at the next iteration, so that a TensorBoard already
/// showing the dropped steps forgets them. Each step then appears once, with no gap.
///
/// Writing never stops training: the first failure is a warning, and this launch writes no more
/// events (metrics.jsonl still has every figure).
public final class TensorBoardLog {
    public let directory: String
    private var writer: EventFileWriter?
    private let warn: @Sendable (String) -> Void

    /// Resumed at `iteration` (nil: a new run, which removes earlier launches' events files, as
    /// metrics.jsonl starts empty).
    public init(directory: String, keepingThrough iteration: Int?, say: (String) -> Void, warn: @escaping @Sendable (String) -> Void) {
        self.directory = directory
        self.warn = warn
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let earlier = try FileManager.default.contentsOfDirectory(atPath: directory).filter(EventFileName.isEventFile).sorted()
            for name in earlier {
                let path = directory + "/" + name
                guard let iteration else {
                    try FileManager.default.removeItem(atPath: path)
                    continue
                }
                switch try EventFileTrim.keep(path: path, throughStep: Int64(iteration)) {
                case .unchanged: break
                case .rewritten(let dropped, let damage), .removed(let dropped, let damage):
                    if let damage { warn("warning: \(path): dropped a damaged end \(damage) (a launch killed mid-write)") }
                    if dropped > 0 { say("tensorboard: dropped \(dropped) event\(dropped == 1 ? "" : "s") after iteration \(iteration) from \(name)") }
                }
            }
            // Names sort in launch order (TensorBoard reads files by name): past every earlier one's seconds.
            let seconds = max(Int(Date().timeIntervalSince1970), (earlier.compactMap(EventFileName.seconds).max() ?? 0) + 1)
            let writer = try EventFileWriter(path: directory + "/" + EventFileName.make(seconds: seconds, host: Self.hostName, pid: getpid()),
                                             wallTime: Date().timeIntervalSince1970)
            try writer.append(Event(wallTime: Date().timeIntervalSince1970, step: Int64((iteration ?? 0) + 1), content: .sessionStart))
            self.writer = writer
        } catch {
            warn("warning: no TensorBoard events this launch: \(error) (metrics.jsonl has every figure)")
        }
    }

    /// Scalars at `step` (the iteration), as float32.
    public func write(step: Int, _ scalars: [(String, Double)]) {
        guard let writer, !scalars.isEmpty else { return }
        do {
            try writer.append(Event(wallTime: Date().timeIntervalSince1970, step: Int64(step),
                                    content: .scalars(scalars.map { Scalar(tag: $0.0, value: Float($0.1)) })))
        } catch {
            warn("warning: TensorBoard events stop before iteration \(step): \(error) (metrics.jsonl has every figure)")
            writer.close()
            self.writer = nil
        }
    }

    static var hostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(cString: buffer)
    }
}
