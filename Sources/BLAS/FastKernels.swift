#if canImport(Glibc)
import Glibc
#endif

extension BLASRuntime {
    static let reexecMarker = "ATELIER_OPENBLAS_REEXEC"
    static let avx512Kernels = ["skylakex", "cooperlake", "sapphirerapids"]

    /// OpenBLAS 0.3.21 picks its Haswell (AVX2) kernels on some AVX-512 CPUs (AMD's among them),
    /// and reads OPENBLAS_CORETYPE only when the library loads. True when this process should set
    /// OPENBLAS_CORETYPE=SkylakeX and re-execute itself: the CPU has AVX-512, OpenBLAS did not pick
    /// an AVX-512 kernel family, the user did not choose one, and we have not re-executed already.
    public static func shouldSelectAVX512Kernels(coreName: String, cpuFlags: Set<String>, environment: [String: String]) -> Bool {
        environment[reexecMarker] == nil
            && environment["OPENBLAS_CORETYPE"] == nil
            && avx512Extensions.allSatisfy(cpuFlags.contains)
            && !avx512Kernels.contains(coreName.lowercased())
    }

    /// OpenBLAS's idle worker threads spin on sched_yield for 2^28 cycles (about 0.1 s) after each
    /// product before they sleep, and read how long only when the library loads. Between products
    /// the rank's own threads (`Parallel`) run the element-wise work on the same cores, and the
    /// spinning workers took 11 % of the CPU from them: 1 rank x 2 threads ran 9-15 % slower
    /// (docs/benchmarks.md). 2^4 cycles: a worker sleeps at once, and waking it costs microseconds
    /// against products of milliseconds.
    static let threadTimeout = "4"

    /// The variables this process should set, and then re-execute itself so that OpenBLAS reads
    /// them: OPENBLAS_CORETYPE=SkylakeX when `shouldSelectAVX512Kernels` says so, and
    /// OPENBLAS_THREAD_TIMEOUT unless the user set it. None once re-executed.
    public static func environmentChanges(coreName: String, cpuFlags: Set<String>, environment: [String: String]) -> [(name: String, value: String)] {
        guard environment[reexecMarker] == nil else { return [] }
        var changes: [(name: String, value: String)] = []
        if shouldSelectAVX512Kernels(coreName: coreName, cpuFlags: cpuFlags, environment: environment) {
            changes.append(("OPENBLAS_CORETYPE", "SkylakeX"))
        }
        if environment["OPENBLAS_THREAD_TIMEOUT"] == nil { changes.append(("OPENBLAS_THREAD_TIMEOUT", threadTimeout)) }
        return changes
    }

    /// Call first thing (before MPI_Init): re-executes this program in place with the variables of
    /// `environmentChanges` set, if any. Returns a sentence for the log saying which kernels run
    /// and what atelier set.
    public static func configureOpenBLAS() -> String {
        let env = environment()
        if let marker = env[reexecMarker] {
            let set = marker.split(separator: ",").map { "\($0)=\(env[String($0)] ?? "")" }.joined(separator: " ")
            let why = marker.contains("OPENBLAS_CORETYPE") ? ": OpenBLAS had picked AVX2 kernels on this AVX-512 CPU"
                : env["OPENBLAS_CORETYPE"].map { "; OPENBLAS_CORETYPE=\($0) from the environment" } ?? ""
            return "OpenBLAS kernels: \(coreName) (atelier set \(set)\(why))"
        }
        let changes = environmentChanges(coreName: coreName, cpuFlags: cpuFlags(), environment: env)
        guard !changes.isEmpty else {
            return "OpenBLAS kernels: \(coreName)" + (env["OPENBLAS_CORETYPE"].map { " (OPENBLAS_CORETYPE=\($0) from the environment)" } ?? "")
        }
        for change in changes { setenv(change.name, change.value, 1) }
        setenv(reexecMarker, changes.map(\.name).joined(separator: ","), 1)
        var argv: [UnsafeMutablePointer<CChar>?] = CommandLine.arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", &argv)
        // execv returns only on failure: carry on with the settings we have.
        return "OpenBLAS kernels: \(coreName) (could not re-execute with \(changes.map { "\($0.name)=\($0.value)" }.joined(separator: " ")), errno \(errno); set them yourself)"
    }

    static func environment() -> [String: String] {
        var out: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") { out[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
            p += 1
        }
        return out
    }
}
