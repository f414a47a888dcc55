import COpenBLAS
#if canImport(Glibc)
import Glibc
#endif

/// What OpenBLAS runs with: its kernel family and thread count.
public enum BLASRuntime {
    /// The kernel family OpenBLAS chose when it loaded ("Haswell", "SkylakeX", ...).
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    public static var threads: Int { Int(openblas_get_num_threads()) }

    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }
}
