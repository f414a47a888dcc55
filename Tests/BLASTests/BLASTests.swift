import BLAS
import Foundation
import XCTest

final class BLASTests: XCTestCase {
    func testStridedSgemmMatchesNaiveProduct() {
        // A is a [2, 3] view with row stride 5 inside a larger buffer; B^T is used.
        let a: [Float] = [1, 2, 3, 99, 99, 4, 5, 6, 99, 99]
        let b: [Float] = [1, 0, 2, 0, 1, 1]   // [2, 3], used as B^T [3, 2]
        var c = [Float](repeating: 7, count: 4)
        sgemm(transB: true, m: 2, n: 2, k: 3, a: a, lda: 5, b: b, ldb: 3, beta: 0, c: &c, ldc: 2)
        XCTAssertEqual(c, [7, 5, 16, 11])
        sgemm(transB: true, m: 2, n: 2, k: 3, alpha: 2, a: a, lda: 5, b: b, ldb: 3, beta: 1, c: &c, ldc: 2)
        XCTAssertEqual(c, [21, 15, 48, 33])
    }

    func testStridedSgemvMatchesNaiveProduct() {
        let a: [Float] = [1, 2, 3, 99, 4, 5, 6, 99]   // [2, 3] with row stride 4
        let x: [Float] = [1, 0, 2]
        var y: [Float] = [10, 20]
        sgemv(m: 2, n: 3, a: a, lda: 4, x: x, beta: 0, y: &y)
        XCTAssertEqual(y, [7, 16])
        sgemv(m: 2, n: 3, alpha: 2, a: a, lda: 4, x: x, beta: 1, y: &y)
        XCTAssertEqual(y, [21, 48])
    }

    func testKernelChoice() {
        let avx512 = Set(BLASRuntime.avx512Extensions + ["fma"])
        XCTAssertTrue(BLASRuntime.shouldSelectAVX512Kernels(coreName: "Haswell", cpuFlags: avx512, environment: [:]))
        XCTAssertFalse(BLASRuntime.shouldSelectAVX512Kernels(coreName: "Cooperlake", cpuFlags: avx512, environment: [:]))
        XCTAssertFalse(BLASRuntime.shouldSelectAVX512Kernels(coreName: "Haswell", cpuFlags: ["avx2", "fma"], environment: [:]))
        XCTAssertFalse(BLASRuntime.shouldSelectAVX512Kernels(coreName: "Haswell", cpuFlags: avx512,
                                                               environment: ["OPENBLAS_CORETYPE": "Haswell"]), "the user's choice wins")
        XCTAssertFalse(BLASRuntime.shouldSelectAVX512Kernels(coreName: "Haswell", cpuFlags: avx512,
                                                               environment: ["ATELIER_OPENBLAS_REEXEC": "1"]), "never loops")
    }

    /// The kernels' vector level is the one the build asked for (x86-64-v3 unless ATELIER_VECTOR_ISA
    /// said x86-64-v4), and a CPU without one of its extensions is named before anything runs.
    func testVectorLevelIsTheChosenOneAndIsChecked() {
        let chosen = ProcessInfo.processInfo.environment["ATELIER_VECTOR_ISA"] ?? "x86-64-v3"
        XCTAssertEqual(BLASRuntime.vectorISA, chosen, "the tests run with the environment they were built with")
        XCTAssertTrue(BLASRuntime.cpuFlags().isSuperset(of: ["avx2", "fma"]), "/proc/cpuinfo's flags are read")
        XCTAssertEqual(BLASRuntime.missingVectorExtensions(), [], "the machine that built the tests runs them")
        let avx2Machine: Set<String> = ["sse2", "avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "movbe"]
        let avx512 = BLASRuntime.avx512Extensions
        XCTAssertEqual(BLASRuntime.missingVectorExtensions(cpuFlags: avx2Machine), chosen == "x86-64-v4" ? avx512 : [])
        XCTAssertEqual(BLASRuntime.missingVectorExtensions(cpuFlags: avx2Machine.union(avx512)), [])
        XCTAssertEqual(BLASRuntime.missingVectorExtensions(cpuFlags: ["sse2", "avx", "movbe"]).prefix(5), ["avx2", "fma", "bmi1", "bmi2", "f16c"])
        XCTAssertEqual(BLASRuntime.missingVectorExtensions(cpuFlags: []), [], "no /proc/cpuinfo: no refusal")
        XCTAssertTrue(BLASRuntime.vectorLevelRefusal(missing: ["avx2", "fma"]).contains("need x86-64-v3"))
        if chosen == "x86-64-v4" {
            XCTAssertTrue(BLASRuntime.vectorLevelRefusal(missing: avx512).contains("without ATELIER_VECTOR_ISA"))
        }
    }

    func testEnvironmentChangesBeforeReexecution() {
        let avx512 = Set(BLASRuntime.avx512Extensions + ["fma"])
        func names(_ core: String, _ flags: Set<String>, _ env: [String: String]) -> [String] {
            BLASRuntime.environmentChanges(coreName: core, cpuFlags: flags, environment: env).map { "\($0.name)=\($0.value)" }
        }
        XCTAssertEqual(names("Haswell", avx512, [:]), ["OPENBLAS_CORETYPE=SkylakeX", "OPENBLAS_THREAD_TIMEOUT=4"])
        XCTAssertEqual(names("Cooperlake", avx512, [:]), ["OPENBLAS_THREAD_TIMEOUT=4"], "idle workers must not spin")
        XCTAssertEqual(names("Haswell", avx512, ["OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_THREAD_TIMEOUT": "28"]), [],
                       "the user's choices win")
        XCTAssertEqual(names("Haswell", avx512, ["ATELIER_OPENBLAS_REEXEC": "OPENBLAS_THREAD_TIMEOUT"]), [], "never loops")
    }
}
