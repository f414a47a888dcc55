#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Deliberate failures for fault-injection tests and drills (docs/fault-tolerance.md):
/// `ATELIER_FAULT=POINT@ITERATION[:RANK[:SIGNAL]]` sends SIGNAL (KILL, the default, or STOP, TERM,
/// SEGV) to this process when rank RANK (default 0) reaches POINT of iteration ITERATION:
///
/// - `forward`: before the step's first forward pass;
/// - `backward`: in the last backward pass, once the first gradients are final (the all-reduce
///   of the first bucket has just been issued on the other ranks);
/// - `allreduce`: after backward, with the gradient all-reduce in flight;
/// - `save`: while the checkpoint of that iteration is being written (all tensors written, the
///   file not yet closed and renamed into place).
///
/// Unset, it costs one comparison per point.
public enum FaultInjection {
    public enum Point: String, CaseIterable, Sendable { case forward, backward, allreduce, save }

    struct Plan: Equatable {
        let point: Point
        let iteration: Int
        let rank: Int
        let signal: Int32
    }

    static let plan: Plan? = {
        guard let text = ProcessInfo.processInfo.environment["ATELIER_FAULT"], !text.isEmpty else { return nil }
        do { return try parse(text) } catch {
            FileHandle.standardError.write(Data("atelier: warning: ATELIER_FAULT ignored: \(error)\n".utf8))
            return nil
        }
    }()

    struct Malformed: Error, CustomStringConvertible {
        let text: String
        var description: String {
            "'\(text)' is not POINT@ITERATION[:RANK[:SIGNAL]] with POINT one of \(Point.allCases.map(\.rawValue).joined(separator: ", ")) and SIGNAL one of KILL, STOP, TERM, SEGV"
        }
    }

    static func parse(_ text: String) throws -> Plan {
        let at = text.split(separator: "@", maxSplits: 1).map(String.init)
        guard at.count == 2, let point = Point(rawValue: at[0]) else { throw Malformed(text: text) }
        let fields = at[1].split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let signals: [String: Int32] = ["KILL": SIGKILL, "STOP": SIGSTOP, "TERM": SIGTERM, "SEGV": SIGSEGV]
        guard (1...3).contains(fields.count), let iteration = Int(fields[0]), iteration >= 0,
              let rank = fields.count > 1 ? Int(fields[1]) : 0, rank >= 0,
              let signal = fields.count > 2 ? signals[fields[2].uppercased()] : SIGKILL
        else { throw Malformed(text: text) }
        return Plan(point: point, iteration: iteration, rank: rank, signal: signal)
    }

    /// This process's rank in the MPI job, from the launcher's environment (0 when alone).
    static let rank: Int = {
        let env = ProcessInfo.processInfo.environment
        return Int(env["OMPI_COMM_WORLD_RANK"] ?? env["PMIX_RANK"] ?? env["SLURM_PROCID"] ?? "0") ?? 0
    }()

    /// Whether a fault is planned at `point` (on any iteration).
    public static func armed(_ point: Point) -> Bool { plan?.point == point }

    /// Delivers the planned signal if this is the planned point, iteration and rank.
    @inline(__always)
    public static func reached(_ point: Point, iteration: Int) {
        guard let plan, plan.point == point, plan.iteration == iteration, plan.rank == rank else { return }
        FileHandle.standardError.write(Data("atelier: ATELIER_FAULT: rank \(rank) sends itself signal \(plan.signal) at \(point) of iteration \(iteration)\n".utf8))
        kill(getpid(), plan.signal)
    }
}
