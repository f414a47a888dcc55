#if canImport(Glibc)
import Glibc
#endif

extension BLASRuntime {
    static let reexecMarker = "ATELIER_OPENBLAS_REEXEC"

    /// OpenBLAS 0.3.21 picks its Haswell (AVX2) kernels on AVX-512 AMD CPUs, about half the sgemm
    /// rate of its SkylakeX kernels there, and reads OPENBLAS_CORETYPE only when the library loads.
    /// So, before anything else (and before MPI_Init), when the CPU has AVX-512 and the user has not
    /// chosen a core type, set OPENBLAS_CORETYPE=SkylakeX and re-execute this program in place.
    /// Returns a sentence for the log saying what was decided.
    public static func preferAVX512Kernels() -> String {
        let env = ProcessInfo.environment
        if env[reexecMarker] == "1" {
            return "OpenBLAS kernels: \(coreName) (atelier set OPENBLAS_CORETYPE=SkylakeX: this AVX-512 CPU runs them about twice as fast as the Haswell kernels OpenBLAS picks)"
        }
        if let chosen = env["OPENBLAS_CORETYPE"] {
            return "OpenBLAS kernels: \(coreName) (OPENBLAS_CORETYPE=\(chosen) from the environment)"
        }
        let fast = ["SkylakeX", "Cooperlake", "SapphireRapids"]
        guard cpuHasAVX512(), !fast.contains(where: { $0.lowercased() == coreName.lowercased() }) else {
            return "OpenBLAS kernels: \(coreName)"
        }
        setenv("OPENBLAS_CORETYPE", "SkylakeX", 1)
        setenv(reexecMarker, "1", 1)
        var argv: [UnsafeMutablePointer<CChar>?] = CommandLine.arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", &argv)
        // execv only returns on failure: carry on with the kernels we have.
        return "OpenBLAS kernels: \(coreName) (could not re-execute with OPENBLAS_CORETYPE=SkylakeX: errno \(errno); set it yourself for about twice the sgemm rate)"
    }

    /// True when /proc/cpuinfo lists the AVX-512 subsets OpenBLAS's SkylakeX kernels use.
    static func cpuHasAVX512() -> Bool {
        guard let file = fopen("/proc/cpuinfo", "r") else { return false }
        defer { fclose(file) }
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0 {
            let text = String(cString: line!)
            guard text.hasPrefix("flags") else { continue }
            let flags = Set(text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init))
            return ["avx512f", "avx512dq", "avx512bw", "avx512vl"].allSatisfy(flags.contains)
        }
        return false
    }
}

enum ProcessInfo {
    static var environment: [String: String] {
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
