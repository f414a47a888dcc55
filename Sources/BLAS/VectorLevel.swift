#if canImport(Glibc)
import Glibc
#endif

/// The vector level AtelierModel's kernels were compiled for (Package.swift's `vectorISA`), and
/// the check that this CPU has it: a binary built with ATELIER_VECTOR_ISA=x86-64-v4 and started
/// on an AVX2 node refuses to start instead of stopping on an illegal instruction mid-run. The
/// check lives here, in a module compiled for the baseline, not in AtelierModel.
extension BLASRuntime {
    /// The AVX-512 extensions of x86-64-v4, as /proc/cpuinfo names them.
    public static let avx512Extensions = ["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"]

    /// The extensions of x86-64-v3 beyond the baseline that compiled code uses.
    static let avx2Extensions = ["avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe"]

    #if ATELIER_VECTOR_ISA_V4
    static let builtForAVX512 = true
    #else
    static let builtForAVX512 = false
    #endif

    public static let vectorISA = builtForAVX512 ? "x86-64-v4" : "x86-64-v3"
    static let vectorExtensions = avx2Extensions + (builtForAVX512 ? avx512Extensions : [])

    /// The extensions of `vectorISA` that this CPU lacks; empty where all are there or /proc is absent.
    public static func missingVectorExtensions() -> [String] {
        missingVectorExtensions(cpuFlags: cpuFlags())
    }

    /// Those of `vectorISA`'s extensions not in `cpuFlags` (none when the flags are unknown).
    public static func missingVectorExtensions(cpuFlags flags: Set<String>) -> [String] {
        guard !flags.isEmpty else { return [] }
        return vectorExtensions.filter { !flags.contains($0) }
    }

    /// What to tell a user whose CPU lacks `missing`: rebuild for AVX2, or (lacking AVX2) that
    /// atelier does not run here.
    public static func vectorLevelRefusal(missing: [String]) -> String {
        let lacks = "this CPU lacks \(missing.joined(separator: ", "))"
        if builtForAVX512 && !missing.contains("avx2") {
            return "\(lacks), which this atelier's kernels were compiled for (x86-64-v4, AVX-512: ATELIER_VECTOR_ISA at build time); build again without ATELIER_VECTOR_ISA (x86-64-v3, AVX2) to run on this node"
        }
        return "\(lacks): atelier's kernels need x86-64-v3 (AVX2 and FMA: Intel Haswell, AMD Zen or later)"
    }

    /// The CPU feature flags of /proc/cpuinfo's first processor; empty without /proc.
    public static func cpuFlags() -> Set<String> {
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
}
