#if canImport(Glibc)
import Glibc
#endif

/// SIGTERM and SIGUSR1 (what Slurm sends before the wall-time kill, and mpirun forwards) ask the
/// run to stop: ranks agree at the next iteration boundary, save a checkpoint and exit with code 4.
public enum StopSignal {
    nonisolated(unsafe) static var received: sig_atomic_t = 0

    public static func install() {
        signal(SIGTERM) { _ in StopSignal.received = 1 }
        signal(SIGUSR1) { _ in StopSignal.received = 1 }
    }

    public static var requested: Bool { received != 0 }
}
