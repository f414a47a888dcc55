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
            && ["avx512f", "avx512dq", "avx512bw", "avx512vl"].allSatisfy(cpuFlags.contains)
            && !avx512Kernels.contains(coreName.lowercased())
    }

    /// Call first thing (before MPI_Init): re-executes this program in place with
    /// OPENBLAS_CORETYPE=SkylakeX when `shouldSelectAVX512Kernels` says so. Returns a sentence for
    /// the log saying which kernels run and why.
    public static func preferAVX512Kernels() -> String {
        let env = environment()
        if env[reexecMarker] == "1" {
            return "OpenBLAS kernels: \(coreName) (atelier set OPENBLAS_CORETYPE=SkylakeX: OpenBLAS had picked AVX2 kernels on this AVX-512 CPU)"
        }
        if let chosen = env["OPENBLAS_CORETYPE"] {
            return "OpenBLAS kernels: \(coreName) (OPENBLAS_CORETYPE=\(chosen) from the environment)"
        }
        guard shouldSelectAVX512Kernels(coreName: coreName, cpuFlags: cpuFlags(), environment: env) else {
            return "OpenBLAS kernels: \(coreName)"
        }
        setenv("OPENBLAS_CORETYPE", "SkylakeX", 1)
        setenv(reexecMarker, "1", 1)
        var argv: [UnsafeMutablePointer<CChar>?] = CommandLine.arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", &argv)
        // execv returns only on failure: carry on with the kernels we have.
        return "OpenBLAS kernels: \(coreName) (could not re-execute with OPENBLAS_CORETYPE=SkylakeX, errno \(errno); set it yourself for faster sgemm)"
    }

    /// The instruction-set extensions atelier's own kernels are compiled for (x86-64-v3, Package.swift)
    /// that this CPU lacks, as /proc/cpuinfo names them; empty where all are there or /proc is absent.
    public static func missingVectorExtensions() -> [String] {
        let flags = cpuFlags()
        guard !flags.isEmpty else { return [] }
        return ["avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe"].filter { !flags.contains($0) }
    }

    /// The CPU feature flags of /proc/cpuinfo's first processor.
    static func cpuFlags() -> Set<String> {
        guard let file = fopen("/proc/cpuinfo", "r") else { return [] }
        defer { fclose(file) }
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0 {
            let text = String(cString: line!)
            guard text.hasPrefix("flags") else { continue }
            return Set(text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init))
        }
        return []
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
